//! Alertmanager's default notification templates (`template/default.tmpl`,
//! 0.25) ported to Watchfire's template engine, plus user template files.
//!
//! The engine (`watchfire-template`) has no methods on lists and maps and
//! no `join`, so the definitions here produce the same text as
//! Alertmanager's through other means: `range $k, $v := .Labels` (map
//! keys iterate sorted, like `.SortedPairs`), a `$first` flag instead of
//! `join " "`, an `index`-based filter instead of `.Remove`, and the
//! `FiringAlerts`/`ResolvedAlerts` fields of [`TemplateData`]. In user
//! texts `.Alerts.Firing`/`.Alerts.Resolved` are rewritten to those fields,
//! so the most common Alertmanager idiom keeps working; `.SortedPairs`,
//! `.Names`, `.Values`, `.Remove`, `join`, `stringSlice` and `toJson` are
//! not available. `email.default.html` is a shorter layout than
//! Alertmanager's (same information, no inline CSS), and values are
//! escaped with `html` explicitly because the engine has no HTML mode.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;
use watchfire_template::{ExecContext, Template, TemplateError};

use crate::data::TemplateData;
use crate::NotifyError;

/// `(name, body)` of each default definition.
pub const DEFAULT_DEFINITIONS: &[(&str, &str)] = &[
    ("__alertmanager", "Alertmanager"),
    (
        "__alertmanagerURL",
        "{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}",
    ),
    (
        "__subject",
        concat!(
            "[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .FiringAlerts | len }}{{ end }}] ",
            "{{ $first := true }}{{ range .GroupLabels }}{{ if not $first }} {{ end }}{{ . }}{{ $first = false }}{{ end }} ",
            "{{ if gt (len .CommonLabels) (len .GroupLabels) }}(",
            "{{ $first := true }}{{ range $k, $v := .CommonLabels }}{{ if not (index $.GroupLabels $k) }}",
            "{{ if not $first }} {{ end }}{{ $v }}{{ $first = false }}{{ end }}{{ end }}",
            "){{ end }}"
        ),
    ),
    ("__description", ""),
    (
        "__text_alert_list",
        concat!(
            "{{ range . }}Labels:\n",
            "{{ range $k, $v := .Labels }} - {{ $k }} = {{ $v }}\n",
            "{{ end }}Annotations:\n",
            "{{ range $k, $v := .Annotations }} - {{ $k }} = {{ $v }}\n",
            "{{ end }}Source: {{ .GeneratorURL }}\n",
            "{{ end }}"
        ),
    ),
    ("slack.default.title", "{{ template \"__subject\" . }}"),
    ("slack.default.username", "{{ template \"__alertmanager\" . }}"),
    (
        "slack.default.fallback",
        "{{ template \"slack.default.title\" . }} | {{ template \"slack.default.titlelink\" . }}",
    ),
    ("slack.default.callbackid", ""),
    ("slack.default.pretext", ""),
    ("slack.default.titlelink", "{{ template \"__alertmanagerURL\" . }}"),
    ("slack.default.iconemoji", ""),
    ("slack.default.iconurl", ""),
    ("slack.default.text", ""),
    ("slack.default.footer", ""),
    ("pagerduty.default.description", "{{ template \"__subject\" . }}"),
    ("pagerduty.default.client", "{{ template \"__alertmanager\" . }}"),
    ("pagerduty.default.clientURL", "{{ template \"__alertmanagerURL\" . }}"),
    ("pagerduty.default.instances", "{{ template \"__text_alert_list\" . }}"),
    ("email.default.subject", "{{ template \"__subject\" . }}"),
    (
        "__html_alert_list",
        concat!(
            "{{ range . }}<tr><td style=\"padding: 0 0 20px;\"><strong>Labels</strong><br />\n",
            "{{ range $k, $v := .Labels }}{{ html $k }} = {{ html $v }}<br />\n{{ end }}",
            "{{ if gt (len .Annotations) 0 }}<strong>Annotations</strong><br />\n{{ end }}",
            "{{ range $k, $v := .Annotations }}{{ html $k }} = {{ html $v }}<br />\n{{ end }}",
            "<a href=\"{{ html .GeneratorURL }}\">Source</a><br />\n</td></tr>\n{{ end }}"
        ),
    ),
    (
        "email.default.html",
        concat!(
            "<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n",
            "<title>{{ template \"__subject\" . }}</title>\n",
            "</head>\n<body style=\"font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; font-size: 14px;\">\n",
            "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">\n",
            "<tr><td style=\"color: #fff; background-color: #E6522C; padding: 20px; text-align: center;\">",
            "{{ .Alerts | len }} alert{{ if gt (len .Alerts) 1 }}s{{ end }} for",
            "{{ range $k, $v := .GroupLabels }} {{ html $k }}={{ html $v }}{{ end }}</td></tr>\n",
            "<tr><td style=\"padding: 10px 0 20px;\"><a href=\"{{ template \"__alertmanagerURL\" . }}\">View in {{ template \"__alertmanager\" . }}</a></td></tr>\n",
            "{{ if gt (len .FiringAlerts) 0 }}<tr><td style=\"padding: 0 0 20px;\"><strong>[{{ .FiringAlerts | len }}] Firing</strong></td></tr>\n{{ end }}",
            "{{ template \"__html_alert_list\" .FiringAlerts }}",
            "{{ if gt (len .ResolvedAlerts) 0 }}{{ if gt (len .FiringAlerts) 0 }}<tr><td><hr /></td></tr>\n{{ end }}",
            "<tr><td style=\"padding: 0 0 20px;\"><strong>[{{ .ResolvedAlerts | len }}] Resolved</strong></td></tr>\n{{ end }}",
            "{{ template \"__html_alert_list\" .ResolvedAlerts }}",
            "</table>\n<p style=\"color: #999; font-size: 12px; text-align: center;\"><a href=\"{{ html .ExternalURL }}\">Sent by {{ template \"__alertmanager\" . }}</a></p>\n",
            "</body>\n</html>\n"
        ),
    ),
    ("email.default.text", ""),
];

/// The name the rendered text is parsed under.
const MAIN: &str = "__watchfire_main";

/// A user template file: a name for messages and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    pub name: String,
    pub text: String,
}

/// The default definitions plus the user's files, ready to render the
/// template strings of receiver settings.
#[derive(Debug)]
pub struct Templates {
    /// Every `define` (defaults not overridden by the user, then the
    /// user's files), concatenated.
    defines: String,
    cache: Mutex<HashMap<String, Arc<Template>>>,
}

fn define_name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // A fixed, valid pattern.
    RE.get_or_init(|| {
        Regex::new(r#"\{\{-?\s*(?:define|block)\s+"([^"]+)""#).unwrap_or_else(|_| unreachable!())
    })
}

fn firing_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\.Alerts\.(Firing|Resolved)\b").unwrap_or_else(|_| unreachable!())
    })
}

/// Rewrites `.Alerts.Firing`/`.Alerts.Resolved` to the data's
/// `FiringAlerts`/`ResolvedAlerts` fields.
pub fn rewrite_user_text(text: &str) -> String {
    firing_re().replace_all(text, ".${1}Alerts").into_owned()
}

impl Templates {
    /// Parses the user's files on top of the defaults; a user definition
    /// replaces the default of the same name (Alertmanager parses user
    /// files after `default.tmpl`).
    pub fn new(files: &[TemplateFile]) -> Result<Templates, TemplateError> {
        let re = define_name_re();
        let mut user_names = BTreeSet::new();
        let mut user = String::new();
        for f in files {
            let text = rewrite_user_text(&f.text);
            Template::parse(&f.name, &text)?;
            for c in re.captures_iter(&text) {
                user_names.insert(c[1].to_string());
            }
            user.push_str(&text);
        }
        let mut defines = String::new();
        for (name, body) in DEFAULT_DEFINITIONS {
            if !user_names.contains(*name) {
                defines.push_str(&format!("{{{{ define \"{name}\" }}}}{}{{{{ end }}}}", body));
            }
        }
        defines.push_str(&user);
        let t = Templates {
            defines,
            cache: Mutex::new(HashMap::new()),
        };
        // Surfaces parse errors and non-blank top-level text in user files
        // (which would clash with the rendered text's tree) at load time.
        t.parsed("{{ \"\" }}")?;
        Ok(t)
    }

    /// The defaults alone.
    pub fn defaults() -> Templates {
        match Templates::new(&[]) {
            Ok(t) => t,
            // The defaults are fixed text covered by tests.
            Err(e) => unreachable!("default templates do not parse: {e}"),
        }
    }

    /// [`Templates::render`] for one integration: a failure becomes that
    /// integration's [`NotifyError::Template`].
    pub fn render_for(
        &self,
        integration: &'static str,
        text: &str,
        data: &TemplateData,
    ) -> Result<String, NotifyError> {
        self.render(text, data).map_err(|e| NotifyError::Template {
            integration,
            message: e.to_string(),
        })
    }

    /// Renders a template string (e.g. `{{ template "slack.default.title" . }}`)
    /// against `data`.
    pub fn render(&self, text: &str, data: &TemplateData) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let tmpl = self.parsed(text)?;
        let ctx = ExecContext {
            ts_ms: data.now,
            external_url: &data.external_url,
            query: None,
        };
        tmpl.execute(&data.to_value(), &ctx)
    }

    fn parsed(&self, text: &str) -> Result<Arc<Template>, TemplateError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(t) = cache.get(text) {
                return Ok(t.clone());
            }
        }
        // The text becomes the template `MAIN`; the files' top-level text
        // (blank, as in Go it is never executed) yields to it.
        let full = format!(
            "{}{{{{ define \"{MAIN}\" }}}}{}{{{{ end }}}}",
            self.defines,
            rewrite_user_text(text)
        );
        let t = Arc::new(Template::parse(MAIN, &full)?);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() < 1024 {
                cache.insert(text.to_string(), t.clone());
            }
        }
        Ok(t)
    }
}
