//! The parser's output: a Dockerfile as a list of raw instructions, before
//! any per-instruction interpretation or variable expansion.

/// Parser directives from the file's first comment lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directives {
    /// `# escape=` (default `\`; only `\` or `` ` ``).
    pub escape: char,
    /// `# syntax=` as written.
    pub syntax: Option<String>,
    /// `# check=` as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// A here-document attached to an instruction (`RUN <<EOF`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`), quotes removed.
    pub name: String,
    /// The body, every line ending in `\n`; with `<<-` leading tabs removed.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
}

/// One instruction as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// 1-based line where the instruction starts.
    pub start_line: usize,
    /// 1-based line where it ends (continuations and heredocs included).
    pub end_line: usize,
    /// The instruction keyword, lower case (`from`, `run`, …).
    pub keyword: String,
    /// Leading `--name=value` / `--name` flags, as written (`--from=build`).
    pub flags: Vec<String>,
    /// Everything after the keyword and flags, with line continuations
    /// joined (escape + newline removed) and comment lines inside a
    /// continuation dropped; leading and trailing whitespace trimmed.
    pub rest: String,
    /// `rest` parsed as a JSON array of strings, when it is one.
    pub json: Option<Vec<String>>,
    /// Here-documents, in the order their `<<` markers appear in `rest`.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written on its lines, continuations joined:
    /// keyword (as cased in the file), flags and rest, as Docker's
    /// `node.Original`.
    pub original: String,
}

/// A parsed Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dockerfile {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    /// Things Docker warns about (`[WARNING]: Empty continuation line found in: …`).
    pub warnings: Vec<String>,
}

/// The keywords Docker knows (lower case).
pub const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];
