//! file_sd: JSON and YAML files, globs, reload on change, last good kept.

use std::path::PathBuf;
use std::time::Duration;

use watchfire_agent::scrape::config::FileSdConfig;
use watchfire_agent::scrape::discovery::file_sd::{glob_match, parse_groups, FileSd};

fn addresses(sd: &FileSd) -> Vec<String> {
    let mut v: Vec<String> = sd
        .groups()
        .iter()
        .flat_map(|g| g.targets.iter().map(|t| t.get("__address__").to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn reload_on_change_keeps_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    let yaml = dir.path().join("b.yml");
    std::fs::write(
        &json,
        r#"[{"targets": ["10.0.0.1:9100"], "labels": {"env": "prod"}}]"#,
    )
    .unwrap();
    std::fs::write(
        &yaml,
        "- targets: ['10.0.0.2:9100', '10.0.0.3:9100']\n  labels: {team: db}\n",
    )
    .unwrap();
    let cfg = FileSdConfig {
        files: vec![
            (dir.path().join("*.json"), Default::default()),
            (yaml.clone(), Default::default()),
        ],
        refresh_interval: Duration::from_secs(300),
    };
    let mut sd = FileSd::new(cfg);
    assert!(sd.refresh(false));
    assert_eq!(
        addresses(&sd),
        ["10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100"]
    );
    let g = sd
        .groups()
        .into_iter()
        .find(|g| g.labels.get("env") == "prod")
        .unwrap();
    assert_eq!(g.labels.get("__meta_filepath"), json.display().to_string());
    // Unchanged: nothing to do.
    assert!(!sd.refresh(false));

    // Changed content is picked up.
    std::fs::write(&json, r#"[{"targets": ["10.0.0.9:9100"]}]"#).unwrap();
    assert!(sd.refresh(false));
    assert_eq!(
        addresses(&sd),
        ["10.0.0.2:9100", "10.0.0.3:9100", "10.0.0.9:9100"]
    );

    // A broken file keeps its last good targets.
    std::fs::write(&json, "[{\"targets\": [").unwrap();
    assert!(!sd.refresh(false));
    assert_eq!(
        addresses(&sd),
        ["10.0.0.2:9100", "10.0.0.3:9100", "10.0.0.9:9100"]
    );

    // A new file matching the glob appears; the broken one is fixed.
    std::fs::write(
        dir.path().join("c.json"),
        r#"[{"targets": ["10.0.0.4:1"]}]"#,
    )
    .unwrap();
    std::fs::write(&json, "[]").unwrap();
    assert!(sd.refresh(false));
    assert_eq!(
        addresses(&sd),
        ["10.0.0.2:9100", "10.0.0.3:9100", "10.0.0.4:1"]
    );

    // A removed file loses its targets.
    std::fs::remove_file(&yaml).unwrap();
    assert!(sd.refresh(false));
    assert_eq!(addresses(&sd), ["10.0.0.4:1"]);
}

/// `(file name, content, Ok(target count) | Err(substring))`.
#[test]
fn parse_groups_table() {
    let cases: &[(&str, &str, Result<usize, &str>)] = &[
        (
            "x.json",
            r#"[{"targets": ["a:1", "b:2"]}, {"targets": []}]"#,
            Ok(2),
        ),
        ("x.yaml", "- targets: [a:1]\n", Ok(1)),
        ("x.yml", "", Ok(0)),
        (
            "x.json",
            r#"[{"targets": ["a:1"], "labels": {"bad-name": "x"}}]"#,
            Err("invalid label name"),
        ),
        (
            "x.json",
            r#"[{"targets": ["http://a:1/"]}]"#,
            Err("not a valid hostname"),
        ),
        ("x.json", r#"[{"targetz": []}]"#, Err("unknown field")),
        ("x.json", "[{\"targets\": [1]}]", Err("line 1 column")),
    ];
    for (name, content, want) in cases {
        let got = parse_groups(&PathBuf::from(name), content);
        match (got, want) {
            (Ok(g), Ok(n)) => assert_eq!(
                g.iter().map(|g| g.targets.len()).sum::<usize>(),
                *n,
                "{content}"
            ),
            (Err(e), Err(s)) => assert!(e.to_string().contains(s), "{content}: {e}"),
            (got, want) => panic!("{content}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn glob_table() {
    let cases = [
        ("*.json", "a.json", true),
        ("*.json", "a.yml", false),
        ("t?.yml", "t1.yml", true),
        ("t?.yml", "t12.yml", false),
        ("*", "", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
    ];
    for (p, n, want) in cases {
        assert_eq!(glob_match(p, n), want, "{p} {n}");
    }
}
