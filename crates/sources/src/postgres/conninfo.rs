//! Taking the password out of a libpq connection string, so that it reaches the client
//! tools through their environment (`PGPASSWORD`) instead of their command line, which
//! every user of the machine can read in `ps`.

/// The connection string without its password, and the password. Both libpq forms are
/// understood: `key=value` pairs (values quoted with `'…'` and `\` escapes) and
/// `postgresql://user:password@host/db?password=…` URIs (percent-encoded).
pub fn split_password(dsn: &str) -> (String, Option<String>) {
    let dsn = dsn.trim();
    if let Some(rest) = dsn
        .strip_prefix("postgresql://")
        .or_else(|| dsn.strip_prefix("postgres://"))
    {
        let scheme = &dsn[..dsn.len() - rest.len()];
        return split_uri(scheme, rest);
    }
    match parse_pairs(dsn) {
        Some(pairs) => {
            let mut password = None;
            let kept: Vec<String> = pairs
                .into_iter()
                .filter_map(|(k, v)| {
                    if k == "password" {
                        password = Some(v);
                        None
                    } else {
                        Some(format!("{k}={}", quote_value(&v)))
                    }
                })
                .collect();
            if password.is_none() {
                return (dsn.to_string(), None);
            }
            (kept.join(" "), password)
        }
        // Not a string libpq would accept either: leave it for libpq to reject.
        None => (dsn.to_string(), None),
    }
}

fn split_uri(scheme: &str, rest: &str) -> (String, Option<String>) {
    let (main, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut password = None;
    // The authority ends at the first '/'; its user part at the last '@' within it.
    let auth_end = main.find('/').unwrap_or(main.len());
    let (authority, path) = main.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user, host) = (&authority[..at], &authority[at..]);
            match user.split_once(':') {
                Some((name, pw)) => {
                    password = Some(percent_decode(pw));
                    format!("{name}{host}")
                }
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let query = query.map(|q| {
        q.split('&')
            .filter(|p| match p.split_once('=') {
                Some(("password", v)) => {
                    password = Some(percent_decode(v));
                    false
                }
                _ => true,
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let mut out = format!("{scheme}{authority}{path}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(&q);
    }
    (out, password)
}

/// `key = value` pairs as libpq reads them; `None` when the string is malformed.
fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn quote_value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return v.to_string();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn key_value_strings_lose_their_password() {
        assert_eq!(
            split_password("host=/tmp user=app password='s3 cr\\'et' dbname=app"),
            (
                "host=/tmp user=app dbname=app".to_string(),
                Some("s3 cr'et".to_string())
            )
        );
        assert_eq!(
            split_password("host = db  password = x"),
            ("host=db".to_string(), Some("x".to_string()))
        );
        assert_eq!(
            split_password("host=db dbname='my db'"),
            ("host=db dbname='my db'".to_string(), None)
        );
        assert_eq!(split_password(""), (String::new(), None));
    }

    #[test]
    fn uris_lose_their_password() {
        assert_eq!(
            split_password("postgresql://app:p%40ss@db:5432/app?sslmode=require"),
            (
                "postgresql://app@db:5432/app?sslmode=require".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://db/app?password=x&sslmode=disable"),
            (
                "postgres://db/app?sslmode=disable".to_string(),
                Some("x".to_string())
            )
        );
        assert_eq!(
            split_password("postgresql://app@db/app"),
            ("postgresql://app@db/app".to_string(), None)
        );
    }
}
