//! `remote_write:` parsing and validation.

use std::time::Duration;

use watchfire_agent::ship::config::{Auth, ConfigError, RawRemoteWrite, RemoteWriteConfig};

fn parse(yaml: &str) -> Result<RemoteWriteConfig, String> {
    let raw: RawRemoteWrite = serde_saphyr::from_str(yaml).map_err(|e| format!("parse: {e}"))?;
    raw.validate().map_err(|e| e.to_string())
}

#[test]
fn validate_table() {
    let check = |yaml: &str, expect: Result<&dyn Fn(&RemoteWriteConfig) -> bool, &str>| match (
        parse(yaml),
        expect,
    ) {
        (Ok(c), Ok(pred)) => assert!(pred(&c), "{yaml}: unexpected {c:?}"),
        (Err(e), Err(want)) => assert!(e.contains(want), "{yaml}: error {e:?} lacks {want:?}"),
        (got, _) => panic!("{yaml}: got {got:?}"),
    };
    check(
        "url: http://r:9090/api/v1/write",
        Ok(&|c| {
            c.timeout == Duration::from_secs(30)
                && c.queue.max_samples_per_send == 2000
                && c.queue.min_shards == 1
                && c.queue.max_shards == 8
                && c.queue.batch_send_deadline == Duration::from_secs(5)
                && c.buffer.max_bytes == 1 << 30
                && c.auth == Auth::None
        }),
    );
    check(
        "url: https://r/w\nremote_timeout: 10s\nqueue: {min_shards: 2, max_shards: 4, max_samples_per_send: 500, batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1m}\nbuffer: {path: /tmp/x.redb, max_size: 512MiB, max_age: 2h}",
        Ok(&|c| {
            c.timeout == Duration::from_secs(10)
                && c.queue.min_shards == 2
                && c.queue.max_backoff == Duration::from_secs(60)
                && c.buffer.max_bytes == 512 << 20
                && c.buffer.max_age == Duration::from_secs(7200)
        }),
    );
    check(
        "url: http://r/w\nbuffer: {max_size: 2000000}",
        Ok(&|c| c.buffer.max_bytes == 2_000_000),
    );
    check(
        "url: http://r/w\nbasic_auth: {username: u, password: p}",
        Ok(&|c| {
            c.auth
                == Auth::Basic {
                    username: "u".into(),
                    password: "p".into(),
                }
        }),
    );
    check(
        "url: http://r/w\nbearer_token: t",
        Ok(&|c| c.auth == Auth::Bearer("t".into())),
    );
    check(
        "url: http://r/w\nheaders: {X-Scope-OrgID: a}",
        Ok(&|c| c.headers == [("X-Scope-OrgID".to_string(), "a".to_string())]),
    );
    check(
        "url: http://r/w\nqueue: {max_shard: 3}",
        Err("unknown field"),
    );
    check("url: http://r/w\nbogus: 1", Err("unknown field"));
    check("url: ftp://r/w", Err("scheme"));
    check("url: not a url", Err("remote_write.url"));
    check("url: http://r/w\nremote_timeout: 5x", Err("remote_timeout"));
    check(
        "url: http://r/w\nqueue: {min_shards: 4, max_shards: 2}",
        Err("min_shards"),
    );
    check("url: http://r/w\nqueue: {min_shards: 0}", Err("min_shards"));
    check(
        "url: http://r/w\nqueue: {max_samples_per_send: 0}",
        Err("max_samples_per_send"),
    );
    check(
        "url: http://r/w\nqueue: {min_backoff: 10s, max_backoff: 1s}",
        Err("min_backoff"),
    );
    check(
        "url: http://r/w\nbuffer: {max_size: 12 parsecs}",
        Err("invalid size"),
    );
    check("url: http://r/w\nbuffer: {max_size: 1KiB}", Err("at least"));
    check(
        "url: http://r/w\nheaders: {Content-Type: x}",
        Err("may not be set"),
    );
    check(
        "url: http://r/w\nheaders: {authorization: x}",
        Err("may not be set"),
    );
    check(
        "url: http://r/w\nbasic_auth: {username: u}\nbearer_token: t",
        Err("at most one"),
    );
    check(
        "url: http://r/w\nbearer_token_file: /nonexistent/t",
        Err("cannot read"),
    );
    let _: Option<ConfigError> = None;
}
