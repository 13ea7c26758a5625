//! Config errors name the file, line and column.

use watchfire_redact::{Action, RedactionConfig};

fn check(yaml: &str, expect: &str) {
    match RedactionConfig::from_yaml("red.yml", yaml) {
        Ok(_) => panic!("expected an error for {yaml:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(expect),
                "{yaml:?}: got {msg:?}, want prefix {expect:?}"
            );
        }
    }
}

#[test]
fn config_errors() {
    for (yaml, expect) in [
        (
            "default_action: scrub\n",
            "red.yml:1:17: unknown action \"scrub\"",
        ),
        (
            "default_action: hash\n",
            "red.yml:1:17: action hash needs hash_key",
        ),
        (
            "hash_key: short\n",
            "red.yml:1:11: hash_key must be at least 16 bytes",
        ),
        (
            "keys:\n  action: hash\n",
            "red.yml:2:11: action hash needs hash_key",
        ),
        (
            "keys:\n  extra: [ok, '--']\n",
            "red.yml:2:15: key name \"--\" has no letters",
        ),
        (
            "builtin:\n  emial: {action: mask}\n",
            "red.yml:2:10: unknown built-in pattern \"emial\"",
        ),
        (
            "builtin:\n  email: {action: nope}\n",
            "red.yml:2:19: unknown action \"nope\"",
        ),
        (
            "patterns:\n  - name: x\n    regex: '(unclosed'\n",
            "red.yml:3:12: invalid regex",
        ),
        (
            "patterns:\n  - name: x\n    regex: 'a*'\n",
            "red.yml:3:12: regex matches the empty string",
        ),
        (
            "patterns:\n  - name: Bad-Name\n    regex: 'a'\n",
            "red.yml:2:11: pattern name \"Bad-Name\" must match",
        ),
        (
            "patterns:\n  - name: email\n    regex: 'a'\n",
            "red.yml:2:11: pattern name \"email\" is already used",
        ),
        (
            "max_depth: 0\n",
            "red.yml:1:12: max_depth must be between 1 and 1000",
        ),
        (
            "max_record_bytes: 0\n",
            "red.yml:1:19: max_record_bytes must be positive",
        ),
        // Unknown fields and type errors come from the YAML layer, located.
        ("keys:\n  nmes: [a]\n", "red.yml:2:3:"),
        ("max_depth: deep\n", "red.yml:1:12:"),
    ] {
        check(yaml, expect);
    }
}

#[test]
fn valid_config() {
    let cfg = RedactionConfig::from_yaml(
        "red.yml",
        "default_action: partial\nhash_key: '0123456789abcdef'\nkeys:\n  extra: [pin]\n  action: hash\nbuiltin:\n  ipv6: {enabled: false}\n  email: {action: mask}\nmax_depth: 10\n",
    )
    .expect("valid");
    assert_eq!(cfg.default_action, Action::Partial);
    assert_eq!(cfg.key_action, Action::Hash);
    assert!(cfg.key_names.iter().any(|k| k == "pin"));
    assert!(cfg.key_names.iter().any(|k| k == "password"));
    assert_eq!(cfg.builtin_action("ipv6"), None);
    assert_eq!(cfg.builtin_action("email"), Some(Action::Mask));
    assert_eq!(cfg.builtin_action("card"), Some(Action::Partial));
    assert_eq!(cfg.limits.max_depth, 10);
    // An empty file is the defaults.
    let d = RedactionConfig::from_yaml("e.yml", "").expect("valid");
    assert_eq!(d.default_action, Action::Mask);
}
