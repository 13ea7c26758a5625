//! Matching key names (JSON object keys, `key=value` keys in free text,
//! span attribute names) against the configured sensitive names.
//!
//! A key is split into lowercase words at `_`, `-`, `.`, spaces and
//! camelCase boundaries (`clientSecret` → `client secret`, `X-API-Key` →
//! `x api key`). It matches a configured name when a run of one to three
//! consecutive words, joined, equals the name with its separators removed:
//! so `api_key` matches `x-api-key`, `apiKey` and `apikey`; `token` matches
//! `access_token` and `gh_token` but not `tokens` or `tokenizer`.
//!
//! A match followed by a metadata word is not a secret: `token_type`,
//! `token_count`, `secret_name`, `password_expires_at` hold facts about a
//! secret, not the secret.

/// Words that, right after a sensitive name, make the key describe the
/// secret rather than hold it.
const METADATA: &[&str] = &[
    "count",
    "counts",
    "type",
    "types",
    "len",
    "length",
    "size",
    "ttl",
    "expires",
    "expiry",
    "expiration",
    "expired",
    "exp",
    "age",
    "name",
    "names",
    "hint",
    "policy",
    "version",
    "enabled",
    "required",
    "present",
    "provided",
    "valid",
    "validated",
    "missing",
    "changed",
    "updated",
    "created",
    "rotated",
    "strength",
    "algorithm",
    "alg",
    "scope",
    "scopes",
    "issuer",
    "endpoint",
    "uri",
    "url",
    "path",
    "file",
    "source",
    "status",
    "error",
    "reset",
    "ref",
    "label",
    "format",
    "kind",
    "id",
    "ids",
    "prefix",
    "field",
];

/// Words that, at the start of a key, make it a flag or a statistic.
const FLAG_PREFIX: &[&str] = &[
    "is", "has", "num", "no", "max", "min", "total", "use", "needs",
];

/// One configured sensitive key name.
#[derive(Debug, Clone)]
struct Name {
    /// The name with separators removed, lowercase (`apikey`).
    joined: String,
    /// The rule it belongs to.
    rule: usize,
}

/// Matches keys against the configured sensitive names.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyMatcher {
    names: Vec<Name>,
    /// First word of every name, ASCII case-insensitive: a key holding
    /// none of them cannot match, and is rejected without allocating.
    quick: Option<aho_corasick::AhoCorasick>,
    firsts: Vec<String>,
    /// The first two bytes (ASCII, in all four case combinations) of
    /// every entry of `firsts`, as a bit table indexed by `a * 256 + b`: a
    /// cheaper necessary condition checked before `quick`. `None` when
    /// some entry is shorter or not ASCII.
    pairs: Option<Box<[u64; 1024]>>,
    /// The entries of `firsts`, lower-cased, as up to three bytes and a
    /// length, without duplicates (used with `pairs`, which needs them
    /// ASCII in their first two bytes).
    first3: Vec<([u8; 3], usize)>,
}

/// Lowercase alphanumerics of `s`, separators dropped.
pub(crate) fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Splits a key into lowercase words (see the module docs).
pub(crate) fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl KeyMatcher {
    /// Adds a sensitive name belonging to `rule`.
    pub(crate) fn add(&mut self, name: &str, rule: usize) {
        let joined = squash(name);
        if !joined.is_empty() {
            self.names.push(Name { joined, rule });
        }
        // The first (up to) three letters of each name's first word: a key
        // matching the name holds them contiguously (unless it splits them
        // across separators, as in `a_pi_key`, which is not worth a scan).
        let w = words(name);
        let first = w.first().map_or("", String::as_str);
        let end = first.char_indices().nth(3).map_or(first.len(), |(i, _)| i);
        if !first.is_empty() {
            self.firsts.push(first[..end].to_string());
        }
        let mut pairs = Box::new([0u64; 1024]);
        let mut usable = true;
        for f in &self.firsts {
            match f.as_bytes() {
                [a, b, ..] if a.is_ascii() && b.is_ascii() => {
                    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
                    for (a, b) in [
                        (a, b),
                        (a.to_ascii_uppercase(), b),
                        (a, b.to_ascii_uppercase()),
                        (a.to_ascii_uppercase(), b.to_ascii_uppercase()),
                    ] {
                        let i = usize::from(a) << 8 | usize::from(b);
                        pairs[i >> 6] |= 1 << (i & 63);
                    }
                }
                _ => usable = false,
            }
        }
        self.pairs = usable.then_some(pairs);
        self.first3.clear();
        for f in &self.firsts {
            let mut k = [0u8; 3];
            let n = f.len().min(3);
            for (d, c) in k.iter_mut().zip(f.bytes()) {
                *d = c.to_ascii_lowercase();
            }
            if !self.first3.contains(&(k, n)) {
                self.first3.push((k, n));
            }
        }
        let firsts = self.firsts.clone();
        self.quick = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(firsts)
            .ok();
    }

    /// Whether no names are configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The rule of the first configured name `key` matches, if any.
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        if let Some(pairs) = &self.pairs {
            // Both cases of each ASCII pair are in the table; where one
            // is, the whole of some entry of `firsts` must follow (what
            // `quick` checks, without its set-up).
            let b = key.as_bytes();
            let hit = b.windows(2).enumerate().any(|(k, w)| {
                let i = usize::from(w[0]) << 8 | usize::from(w[1]);
                if pairs[i >> 6] & (1 << (i & 63)) == 0 {
                    return false;
                }
                let (c0, c1) = (w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase());
                let c2 = b.get(k + 2).map(u8::to_ascii_lowercase);
                self.first3
                    .iter()
                    .any(|(f, n)| f[0] == c0 && f[1] == c1 && (*n == 2 || c2 == Some(f[2])))
            });
            if !hit {
                return None;
            }
        } else if self.quick.as_ref().is_some_and(|q| !q.is_match(key)) {
            return None;
        }
        let squashed = squash(key);
        if !self.names.iter().any(|n| squashed.contains(&n.joined)) {
            return None;
        }
        let w = words(key);
        if w.first().is_some_and(|f| FLAG_PREFIX.contains(&f.as_str())) && w.len() > 1 {
            return None;
        }
        for name in &self.names {
            for i in 0..w.len() {
                let mut joined = String::new();
                for (j, word) in w.iter().enumerate().skip(i).take(3) {
                    joined.push_str(word);
                    if joined.len() > name.joined.len() {
                        break;
                    }
                    if joined == name.joined {
                        let described = w
                            .get(j + 1)
                            .is_some_and(|next| METADATA.contains(&next.as_str()));
                        if !described {
                            return Some(name.rule);
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, expect: bool) {
        let mut m = KeyMatcher::default();
        for n in [
            "password",
            "secret",
            "token",
            "api_key",
            "set-cookie",
            "cookie",
            "ssn",
        ] {
            m.add(n, 0);
        }
        assert_eq!(m.find(key).is_some(), expect, "key {key:?}");
    }

    #[test]
    fn key_shapes() {
        for (key, expect) in [
            ("password", true),
            ("Password", true),
            ("db_password", true),
            ("userPassword", true),
            ("client_secret", true),
            ("clientSecret", true),
            ("aws_secret_access_key", true),
            ("x-api-key", true),
            ("X-API-Key", true),
            ("apiKey", true),
            ("apikey", true),
            ("access_token", true),
            ("refresh_token", true),
            ("id_token", true),
            ("Set-Cookie", true),
            ("SSN", true),
            ("tokens", false),
            ("max_tokens", false),
            ("token_type", false),
            ("token_count", false),
            ("secret_name", false),
            ("password_expires_at", false),
            ("is_secret", false),
            ("tokenizer", false),
            ("session", false),
            ("trace_id", false),
            ("key", false),
        ] {
            check(key, expect);
        }
    }

    #[test]
    fn splits_words() {
        assert_eq!(words("X-APIKey"), ["x", "api", "key"]);
        assert_eq!(words("clientSecret_v2"), ["client", "secret", "v2"]);
        assert_eq!(words("HTTPServer"), ["http", "server"]);
    }
}
