//! The label names docker compose puts on the objects it creates.

/// The project name, on containers, networks, volumes.
pub const PROJECT: &str = "com.docker.compose.project";
/// The service name, on containers.
pub const SERVICE: &str = "com.docker.compose.service";
/// The replica number (1-based), on containers.
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// [`crate::plan::config_hash`] of the service, on containers.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// `True` on `run` containers, `False` otherwise.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The project directory, on containers.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose files, comma-separated, on containers.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// The env files, comma-separated, on containers.
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
/// The compose version that created the object.
pub const VERSION: &str = "com.docker.compose.version";
/// The network's key in the compose file, on networks.
pub const NETWORK: &str = "com.docker.compose.network";
/// The volume's key in the compose file, on volumes.
pub const VOLUME: &str = "com.docker.compose.volume";
/// The service's dependencies, on containers: `db:service_healthy:false,cache:service_started:true`
/// (`name:condition:restart`), see [`depends_on_value`].
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The image digest the container was created from, on containers.
pub const IMAGE: &str = "com.docker.compose.image";
/// The container replaced by this one during a recreate.
pub const REPLACE: &str = "com.docker.compose.replace";
/// The random slug of a one-off (`run`) container.
pub const SLUG: &str = "com.docker.compose.slug";

/// The value compose writes in [`DEPENDS_ON`] for a service.
pub fn depends_on_value(s: &crate::Service) -> String {
    s.depends_on
        .iter()
        .map(|(name, d)| format!("{name}:{}:{}", d.condition.as_str(), d.restart))
        .collect::<Vec<_>>()
        .join(",")
}

/// Alias of [`WORKING_DIR`].
pub const PROJECT_WORKING_DIR: &str = WORKING_DIR;
/// Alias of [`CONFIG_FILES`].
pub const PROJECT_CONFIG_FILES: &str = CONFIG_FILES;
/// Alias of [`ENVIRONMENT_FILE`].
pub const PROJECT_ENVIRONMENT_FILE: &str = ENVIRONMENT_FILE;
