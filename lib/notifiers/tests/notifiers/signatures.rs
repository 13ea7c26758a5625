//! Inbound signature verification and payload parsing.

use watchfire_notifiers::inbound::*;

const NOW: i64 = 1_700_000_000;

#[test]
fn slack_signatures() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = b"payload=%7B%7D";
    let good = slack_signature(secret, "1700000000", body);
    fn check(secret: &str, ts: &str, sig: &str, body: &[u8], expect: Result<(), SignatureError>) {
        assert_eq!(
            verify_slack_signature(secret, ts, sig, body, NOW),
            expect,
            "{ts} {sig}"
        );
    }
    check(secret, "1700000000", &good, body, Ok(()));
    check(
        secret,
        "1699999800",
        &slack_signature(secret, "1699999800", body),
        body,
        Ok(()),
    );
    check(
        "wrong-secret",
        "1700000000",
        &good,
        body,
        Err(SignatureError::Mismatch),
    );
    check(
        secret,
        "1700000000",
        &good,
        b"payload=%7B%7D&x=1",
        Err(SignatureError::Mismatch),
    );
    let stale = slack_signature(secret, "1699999600", body);
    check(
        secret,
        "1699999600",
        &stale,
        body,
        Err(SignatureError::Stale(400)),
    );
    check(
        secret,
        "1700000301",
        &slack_signature(secret, "1700000301", body),
        body,
        Err(SignatureError::Stale(-301)),
    );
    check(
        secret,
        "abc",
        &good,
        body,
        Err(SignatureError::BadTimestamp),
    );
    check(
        secret,
        "1700000000",
        &good.replace("v0=", "v1="),
        body,
        Err(SignatureError::BadHeader),
    );
    check(
        secret,
        "1700000000",
        "v0=zz",
        body,
        Err(SignatureError::BadHeader),
    );
    // A forged signature of the right shape.
    check(
        secret,
        "1700000000",
        &format!("v0={}", "0".repeat(64)),
        body,
        Err(SignatureError::Mismatch),
    );
}

#[test]
fn slack_signature_matches_slacks_documented_example() {
    // api.slack.com/authentication/verifying-requests-from-slack.
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    assert_eq!(
        verify_slack_signature(
            "8f742231b10e8888abcd99yyyzzz85a5",
            "1531420618",
            sig,
            body,
            1_531_420_618
        ),
        Ok(())
    );
}

#[test]
fn pagerduty_signatures() {
    let body = br#"{"event":{}}"#;
    let good = pagerduty_signature("s3cret", body);
    fn check(secret: &str, header: &str, expect: Result<(), SignatureError>) {
        assert_eq!(
            verify_pagerduty_signature(secret, header, br#"{"event":{}}"#),
            expect,
            "{header}"
        );
    }
    check("s3cret", &good, Ok(()));
    check("s3cret", &format!("v1={},{good}", "ab".repeat(32)), Ok(()));
    check("other", &good, Err(SignatureError::Mismatch));
    check(
        "s3cret",
        &format!("v1={}", "ab".repeat(32)),
        Err(SignatureError::Mismatch),
    );
    check("s3cret", "", Err(SignatureError::BadHeader));
    check("", &good, Err(SignatureError::NoSecret));
    assert_ne!(pagerduty_signature("s3cret", b"other body"), good);
}

#[test]
fn slack_interactions() {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U123", "username": "alice", "name": "alice"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C1"},
        "channel": {"id": "C1", "name": "ops"},
        "actions": [{"action_id": "watchfire_ack", "value": "{}:{alertname=\"X\"}", "type": "button"}]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let got = parse_slack_interaction(body.as_bytes()).unwrap();
    assert_eq!(
        got,
        vec![SlackAction {
            action_id: "watchfire_ack".into(),
            value: Some("{}:{alertname=\"X\"}".into()),
            user_id: "U123".into(),
            user_name: "alice".into(),
            channel: Some("C1".into()),
            message_ts: Some("1700000000.000001".into()),
        }]
    );
    assert_eq!(
        parse_slack_interaction(b"x=1"),
        Err(InboundError::NoPayload)
    );
    assert!(matches!(
        parse_slack_interaction(b"payload=notjson"),
        Err(InboundError::Json(_))
    ));
    let other =
        serde_urlencoded::to_string([("payload", r#"{"type":"view_submission"}"#)]).unwrap();
    assert_eq!(parse_slack_interaction(other.as_bytes()).unwrap(), vec![]);
}

#[test]
fn pagerduty_events() {
    let body = br#"{"event":{"id":"01DEN","event_type":"incident.acknowledged","resource_type":"incident","occurred_at":"2020-10-02T18:45:22.169Z","agent":{"id":"PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"data":{"id":"PGR0VU2","type":"incident","status":"acknowledged","incident_key":"d4061866bc333de2","title":"x"}}}"#;
    let e = parse_pagerduty_event(body).unwrap();
    assert_eq!(e.acknowledged_dedup_key(), Some("d4061866bc333de2"));
    assert_eq!(e.incident_id, "PGR0VU2");
    assert_eq!(e.agent.as_deref(), Some("Tenex Engineer"));
    let resolved =
        String::from_utf8_lossy(body).replace("incident.acknowledged", "incident.resolved");
    assert_eq!(
        parse_pagerduty_event(resolved.as_bytes())
            .unwrap()
            .acknowledged_dedup_key(),
        None
    );
    assert!(parse_pagerduty_event(b"{}").is_err());
}
