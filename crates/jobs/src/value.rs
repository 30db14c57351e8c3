//! Value types of the configuration file: strings that may name environment variables,
//! secrets that are never printed, and durations. Each checks itself while the file is
//! read, so a bad value is reported at its own line and column.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Replaces `${NAME}` with the value of environment variable NAME (`$$` is a literal
/// `$`). An unset variable is an error: a configuration that silently became empty
/// would back up the wrong thing or nothing.
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid variable name {name:?} in {s:?}"));
            }
            let value = std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The environment variables a configuration text refers to, `${NAME}` and `env:NAME`,
/// sorted: what a Kubernetes Secret or a systemd environment file must give it.
pub fn referenced_variables(text: &str) -> Vec<String> {
    let name_len = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut names = std::collections::BTreeSet::new();
    // Comment lines do not count.
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.as_str();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let n = name_len(body);
            if n > 0 && body[n..].starts_with('}') {
                names.insert(body[..n].to_string());
            }
        }
        rest = after;
    }
    for (i, _) in text.match_indices("\"env:") {
        let body = &text[i + 5..];
        let n = name_len(body);
        if n > 0 && body[n..].starts_with('"') {
            names.insert(body[..n].to_string());
        }
    }
    names.into_iter().collect()
}

/// A string value with `${VAR}` references expanded when the file is read. It is
/// shown (serialized) as written, so that `config show` prints `${VAR}`, never what
/// the environment put there (a token in a command line, say).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String, String);

impl Text {
    /// A value without references (as written = as used).
    pub fn new(s: impl Into<String>) -> Text {
        let s = s.into();
        Text(s.clone(), s)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An empty path, URL, name or address is always a mistake (often a variable that
/// expanded to nothing); command arguments, where `""` can be meant, are read by [`argv`].
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let value = expand_env(&raw).map_err(serde::de::Error::custom)?;
        if value.trim().is_empty() {
            return Err(serde::de::Error::custom(empty_value(&raw)));
        }
        Ok(Text(value, raw))
    }
}

fn empty_value(raw: &str) -> String {
    if raw.trim().is_empty() {
        "empty value: give one or leave the key out".into()
    } else {
        format!("{raw:?} expands to an empty value")
    }
}

/// A command line as a list: the program and its arguments, each expanded like
/// [`Text`]. The program must be there; an argument may be empty.
pub(crate) fn argv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Text>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    let argv = raw
        .into_iter()
        .map(|r| expand_env(&r).map(|v| Text(v, r)))
        .collect::<Result<Vec<Text>, String>>()
        .map_err(serde::de::Error::custom)?;
    if argv.first().is_none_or(|program| program.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            "empty command: give the program and its arguments, e.g. [\"logger\", \"done\"]",
        ));
    }
    Ok(argv)
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.1)
    }
}

/// A secret (password, token, webhook URL with its key): expanded like [`Text`], or read
/// from the environment with `env:NAME`; printed and serialized only as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        resolve_secret(&raw).map_err(serde::de::Error::custom)
    }
}

/// `raw` with its references resolved: `env:NAME`, or `${NAME}` inside the string.
fn resolve_secret(raw: &str) -> Result<Secret, String> {
    let value = match raw.strip_prefix("env:") {
        Some(name) => {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        }
        None => expand_env(raw),
    }?;
    // An empty token would make `Bearer ` the key to the API; an empty password
    // or URL is a variable that was set to nothing.
    if value.is_empty() {
        return Err(empty_value(raw));
    }
    Ok(Secret(value))
}

/// A secret only the daemon uses (`api_token`, `password_hash`): resolved like a
/// [`Secret`], but a variable missing from the environment fails only the daemon, at
/// start or reload, not every command that reads the file. A `bunker run` from cron,
/// whose environment has none of the daemon's variables, then runs as printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DaemonSecret(Result<Secret, String>);

impl DaemonSecret {
    pub fn new(s: impl Into<String>) -> DaemonSecret {
        DaemonSecret(Ok(Secret::new(s)))
    }

    /// The secret, or why it could not be resolved.
    pub fn resolve(&self) -> Result<&str, &str> {
        match &self.0 {
            Ok(s) => Ok(s.expose()),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for DaemonSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for DaemonSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.trim().is_empty() {
            return Err(serde::de::Error::custom(empty_value(&raw)));
        }
        Ok(DaemonSecret(resolve_secret(&raw)))
    }
}

impl Serialize for DaemonSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A span of time written `90s`, `15m`, `1h30m`, `2d` (also `500ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [
            ("d", 86_400_000u128),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        if ms > 0 {
            write!(f, "{ms}ms")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let span = parse_duration(&raw).map_err(serde::de::Error::custom)?;
        // Every span in the file is a timeout, an objective or an allowance: zero
        // would fail or alert on every run.
        if span.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "{raw:?}: a span of zero means every run fails or alerts; give a longer one"
            )));
        }
        Ok(Span(span))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The longest span [`parse_duration`] accepts: 100 years (of 365 days). Longer ones are
/// typos, and keeping below it lets every caller add a span to a date without overflow.
pub const LONGEST_SPAN: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses `500ms`, `90s`, `10m`, `1h30m`, `2d` (a bare number is seconds), up to
/// [`LONGEST_SPAN`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (e.g. 500ms, 90s, 10m, 1h30m, 2d)");
    let too_long = || format!("duration {s:?} is longer than 100 years");
    let mut total_ms = 0u64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_ms = n
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(too_long)?;
    }
    let total = Duration::from_millis(total_ms);
    if total > LONGEST_SPAN {
        return Err(too_long());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_refuses_unset_ones() {
        std::env::set_var("BUNKER_TEST_EXPAND", "x1");
        assert_eq!(
            expand_env("a${BUNKER_TEST_EXPAND}b$$c$d").unwrap(),
            "ax1b$c$d"
        );
        assert!(expand_env("${BUNKER_TEST_UNSET_VAR}")
            .unwrap_err()
            .contains("BUNKER_TEST_UNSET_VAR is not set"));
        assert!(expand_env("${oops").is_err());
    }

    #[test]
    fn referenced_variables_are_found_once_each() {
        let text =
            "# ${IN_A_COMMENT}\nurl = \"s3:https://${HOST}/b\"\npassword = \"env:REPO_PW\"\n\
                    dsn = \"${HOST}:$${NOT_ONE}\"\ntoken = \"${BAD NAME}\"\n";
        assert_eq!(referenced_variables(text), ["HOST", "REPO_PW"]);
    }

    #[test]
    fn durations_round_trip_through_text() {
        for (s, secs) in [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172_800)] {
            let d = parse_duration(s).unwrap();
            assert_eq!(d.as_secs(), secs);
            assert_eq!(parse_duration(&Span(d).to_string()).unwrap(), d);
        }
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn huge_durations_are_refused_without_overflow() {
        assert_eq!(parse_duration("36500d").unwrap(), LONGEST_SPAN);
        for s in [
            "36501d",
            "18446744073709551615ms1ms",
            "18446744073709551615d",
            &"18446744073709551615ms".repeat(2000),
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("longer than 100 years"), "{e}");
        }
    }
}
