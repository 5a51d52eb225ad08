//! A Dockerfile (the build context's, so the sender's) through the pure
//! half of the classic builder, as the engine drives it: berth-build's
//! `parse`, `instructions::stages`, `plan::plan` with `--build-arg`s, then
//! each needed stage's steps the way dispatch treats them — metadata
//! instructions applied to a config with `apply_meta`, RUN's history line,
//! COPY/ADD's words expanded — and ONBUILD triggers parsed.
#![no_main]

use std::collections::BTreeMap;

use berth_api::container::Config;
use berth_build::instructions::{Instruction, stages};
use berth_build::plan::{self, BuildArgs, StageArgs};
use berth_build::shell::Lexer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(df) = berth_build::parse(text) else {
        return;
    };
    let escape = df.directives.escape;
    for n in df.nodes.iter().filter(|n| n.keyword == "onbuild") {
        if let Ok(trigger) = berth_build::parser::parse_onbuild_trigger(n, escape) {
            let _ = berth_build::instructions::instruction(&trigger, escape);
        }
    }
    let Ok(mut st) = stages(&df) else {
        return;
    };
    let given = BTreeMap::from([
        ("VERSION".to_string(), Some("1.2".to_string())),
        (
            "HTTP_PROXY".to_string(),
            Some("http://proxy:3128".to_string()),
        ),
        ("UNSET".to_string(), None),
    ]);
    let mut args = BuildArgs::new(
        given,
        &st.meta_args,
        plan::platform_args("linux", "amd64", ""),
    );
    let Ok(p) = plan::plan(&st, None, &args) else {
        return;
    };
    // `--target` by name, as a build may ask for any stage.
    if let Some(name) = st.stages.first().and_then(|s| s.name.clone()) {
        let _ = plan::plan(&st, Some(&name), &args);
    }
    assert_eq!(p.order.last(), Some(&p.target), "the target is built last");
    let lex = Lexer::new(st.escape);
    for &i in &p.order {
        let stage = &mut st.stages[i];
        let _ = lex.process_word(&stage.base, &|k| args.meta_lookup(k));
        let mut cfg = Config::default();
        let mut sa = StageArgs::new(&args);
        let mut maintainer = String::new();
        let mut parent = "sha256:base".to_string();
        for step in std::mem::take(&mut stage.steps) {
            let created_by = match &step.instruction {
                Instruction::Run(r) => {
                    let argv = r.cmd.argv(&plan::shell_of(&cfg));
                    let allowed = sa.allowed(cfg.env());
                    let named = sa.history_args(&allowed);
                    plan::run_created_by(&argv, &named, !allowed.is_empty()).join(" ")
                }
                Instruction::Copy(c) | Instruction::Add(c) => {
                    let look = plan::lookup(&cfg, &sa);
                    for w in c.sources.iter().chain([&c.dest]) {
                        let _ = lex.process_words(w, &look);
                    }
                    let _ = plan::workdir(&cfg.working_dir, &c.dest);
                    continue;
                }
                inst => match plan::apply_meta(
                    inst,
                    &mut cfg,
                    &mut sa,
                    &mut args,
                    &lex,
                    &mut maintainer,
                ) {
                    Ok(comment) => {
                        if matches!(inst, Instruction::Entrypoint(_)) {
                            plan::reset_cmd_after_entrypoint(&mut cfg, false);
                        }
                        comment
                    }
                    Err(_) => return,
                },
            };
            let config_json = serde_json::to_vec(&cfg).expect("a config serialises");
            parent = berth_build::cache::step_key(&parent, &created_by, &config_json);
        }
    }
    let _ = args.unconsumed();
});
