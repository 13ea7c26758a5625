//! Email through a real (minimal) SMTP server.

use std::sync::Arc;

use watchfire_notifiers::email::{EmailNotifier, EmailSettings};
use watchfire_notifiers::templates::Templates;
use watchfire_notifiers::testing::smtp;
use watchfire_notifiers::Notifier;

use crate::{notification, resolved_only};

fn settings(port: u16) -> EmailSettings {
    EmailSettings {
        require_tls: false,
        ..EmailSettings::new(
            "ops@example.com, Oncall <oncall@example.com>",
            "Watchfire <wf@example.com>",
            "127.0.0.1",
            port,
        )
    }
}

#[tokio::test]
async fn sends_alertmanager_style_email() {
    let srv = smtp::start(Some(("user", "pw"))).await.unwrap();
    let mut s = settings(srv.addr.port());
    s.auth_username = "user".into();
    s.auth_password = "pw".into();
    s.text = "{{ .Alerts.Firing | len }} firing".into();
    s.headers
        .insert("X-Team".into(), "{{ .GroupLabels.alertname }}".into());
    let n = EmailNotifier::new(s, Arc::new(Templates::defaults())).unwrap();
    assert!(n.notify(&notification()).await.unwrap().sent);
    let mails = srv.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.auth, Some(("user".into(), "pw".into())));
    assert_eq!(m.ehlo, "localhost");
    assert_eq!(m.from, "wf@example.com");
    assert_eq!(m.to, ["ops@example.com", "oncall@example.com"]);
    assert!(
        m.data
            .contains("Subject: [FIRING:1] HighLatency (api critical)\r\n"),
        "{}",
        m.data
    );
    assert!(m.data.contains("X-Team: HighLatency\r\n"));
    assert!(m.data.contains("multipart/alternative"));
    assert!(m.data.contains("1 firing"));
    assert!(m.data.contains("text/html"));
}

#[tokio::test]
async fn smtp_failures() {
    let srv = smtp::start(None).await.unwrap();
    let n = EmailNotifier::new(settings(srv.addr.port()), Arc::new(Templates::defaults())).unwrap();
    srv.fail_next(1, 451);
    let e = n.notify(&notification()).await.unwrap_err();
    assert!(e.retryable(), "4xx is transient: {e}");
    srv.fail_next(1, 554);
    assert!(
        !n.notify(&notification()).await.unwrap_err().retryable(),
        "5xx is permanent"
    );
    assert!(n.notify(&notification()).await.unwrap().sent);
    assert!(
        !n.notify(&resolved_only()).await.unwrap().sent,
        "send_resolved defaults to false"
    );
    // require_tls (the default) against a server without STARTTLS fails.
    let tls = EmailNotifier::new(
        EmailSettings {
            require_tls: true,
            ..settings(srv.addr.port())
        },
        Arc::new(Templates::defaults()),
    )
    .unwrap();
    assert!(tls.notify(&notification()).await.is_err());
    assert_eq!(srv.mails().len(), 1);
}
