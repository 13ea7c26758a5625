//! Static checks of `deploy/Dockerfile`.
//!
//! Building the image takes about 25 minutes, root and 3 GB here (no
//! Docker engine, no registry: `deploy/image/build-offline.sh` makes
//! stand-in base images and builds with buildah), so CI does not build
//! it. These checks catch what breaks the file without building it: it
//! stays multi-stage, the runtime stage runs as a numeric non-root user and
//! is not the build image, the build is `--locked` and names the binary
//! `Cargo.toml` declares, every `COPY` from the context exists and is not
//! left out by `.dockerignore`, and the Rust image is not older than the
//! workspace's `rust-version`.

use super::*;

/// One `FROM` section: its image, its `AS` name and its instructions
/// (continuation lines joined).
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

/// The `ARG` defaults before the first `FROM`, and the stages.
fn parse(text: &str) -> (Vec<(String, String)>, Vec<Stage>) {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(t);
            logical.push(std::mem::take(&mut cur));
        }
    }
    let mut args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for l in logical {
        let (op, rest) = l
            .split_once(char::is_whitespace)
            .unwrap_or((l.as_str(), ""));
        let (op, rest) = (op.to_ascii_uppercase(), rest.trim().to_string());
        if op == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_string()),
                _ => None,
            };
            stages.push(Stage {
                image: words.first().unwrap_or(&"").to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(s) = stages.last_mut() {
            s.instructions.push((op, rest));
        } else if op == "ARG" {
            if let Some((k, v)) = rest.split_once('=') {
                args.push((k.to_string(), v.to_string()));
            }
        }
    }
    (args, stages)
}

/// `${NAME}` replaced by the ARG default.
fn expand(s: &str, args: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for (k, v) in args {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

fn version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Everything wrong with a Dockerfile for this repository: `repo` is where
/// `COPY` sources are looked up, `ignore` the `.dockerignore` text, `bin`
/// the binary's name and `rust_version` the workspace's minimum.
fn problems(text: &str, repo: &Path, ignore: &str, bin: &str, rust_version: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (args, stages) = parse(text);
    if stages.len() < 2 {
        out.push(format!(
            "{} stage(s): want a build stage and a runtime stage",
            stages.len()
        ));
        return out;
    }
    let build = &stages[0];
    let runtime = &stages[stages.len() - 1];
    let build_image = expand(&build.image, &args);
    let runtime_image = expand(&runtime.image, &args);
    if runtime_image == build_image {
        out.push(format!(
            "the runtime stage is the build image {build_image}"
        ));
    }
    match build_image
        .split_once(':')
        .and_then(|(_, tag)| version(tag.split('-').next().unwrap_or("")))
    {
        Some(v) if Some(v) >= version(rust_version) => {}
        Some(v) => out.push(format!(
            "build image {build_image} is Rust {}.{}, older than rust-version {rust_version}",
            v.0, v.1
        )),
        None => out.push(format!("build image {build_image} names no Rust version")),
    }
    let cargo = format!("cargo build --release --locked --bin {bin}");
    if !build
        .instructions
        .iter()
        .any(|(op, r)| op == "RUN" && r.contains(&cargo))
    {
        out.push(format!("the build stage does not run `{cargo}`"));
    }
    let from_build = build.name.as_deref().map(|n| format!("--from={n}"));
    if !runtime
        .instructions
        .iter()
        .any(|(op, r)| op == "COPY" && from_build.as_deref().is_some_and(|f| r.contains(f)))
    {
        out.push("the runtime stage copies nothing from the build stage".into());
    }
    match runtime
        .instructions
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
    {
        None => out.push("the runtime stage sets no USER (it would run as root)".into()),
        Some((_, u)) => {
            let uid = u.split(':').next().unwrap_or("");
            match uid.parse::<u32>() {
                Ok(0) => out.push(format!("USER {u} is root")),
                Ok(_) => {}
                Err(_) => out.push(format!(
                    "USER {u} is not numeric (runAsNonRoot cannot check a name)"
                )),
            }
        }
    }
    if !runtime
        .instructions
        .iter()
        .any(|(op, r)| op == "ENTRYPOINT" && r.contains(bin))
    {
        out.push(format!("the ENTRYPOINT does not run {bin}"));
    }
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for s in &stages {
        for (op, r) in &s.instructions {
            if op != "COPY" || r.contains("--from=") {
                continue;
            }
            let words: Vec<&str> = r
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            for src in &words[..words.len().saturating_sub(1)] {
                let first = src.trim_start_matches("./").split('/').next().unwrap_or("");
                if *src != "." && ignored.iter().any(|i| i.trim_start_matches('/') == first) {
                    out.push(format!(
                        "COPY {src}: left out of the context by .dockerignore"
                    ));
                }
                let (dir, pat) = src.rsplit_once('/').unwrap_or((".", src));
                let found = if pat.contains('*') {
                    let (pre, suf) = pat.split_once('*').unwrap_or((pat, ""));
                    std::fs::read_dir(repo.join(dir)).is_ok_and(|rd| {
                        rd.flatten().any(|e| {
                            let n = e.file_name().to_string_lossy().to_string();
                            n.starts_with(pre) && n.ends_with(suf)
                        })
                    })
                } else {
                    repo.join(src).exists()
                };
                if !found {
                    out.push(format!("COPY {src}: nothing in the repository matches"));
                }
            }
        }
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_matches_the_repository() {
    let root = &repo();
    let cargo = read(&root.join("Cargo.toml"));
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("rust-version in Cargo.toml");
    let ignore = read(&root.join(".dockerignore"));
    let real = read(&root.join("deploy/Dockerfile"));
    let check = |text: &str, expect: &[&str]| {
        let got = problems(text, root, &ignore, "watchfire", &rust_version);
        assert_eq!(got.len(), expect.len(), "{got:#?}\nfor:\n{text}");
        for (g, e) in got.iter().zip(expect) {
            assert!(g.contains(e), "{g:?} should mention {e:?}");
        }
    };
    check(&real, &[]);

    // The checker can fail: each mutation of the real file is caught.
    check(&real.replace("USER 10001:10001", "USER 0:0"), &["is root"]);
    check(
        &real.replace("USER 10001:10001", "USER watchfire"),
        &["not numeric"],
    );
    check(&real.replace("USER 10001:10001", ""), &["no USER"]);
    check(&real.replace(" --locked", ""), &["--locked"]);
    check(
        &real.replace("rust:1.95-bookworm", "rust:1.85-bookworm"),
        &["older than"],
    );
    check(
        &real.replace("COPY rules/*.yml", "COPY rulez/*.yml"),
        &["nothing in the repository"],
    );
    check(
        &real.replace("COPY rules/*.yml", "COPY target/*.yml"),
        &[".dockerignore", "nothing"],
    );
    check(
        &real.replace("--from=build", "--from=elsewhere"),
        &["copies nothing"],
    );
    check(
        "ARG I=rust:1.95-bookworm\nFROM ${I} AS build\nRUN cargo build --release --locked --bin watchfire\nUSER 1\nENTRYPOINT [\"watchfire\"]\n",
        &["1 stage(s)"],
    );
}
