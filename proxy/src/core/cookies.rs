//! Reading the `Cookie` header and writing `Set-Cookie` values.

/// The cookies of one request, in the order they came.
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    pairs: Vec<(String, String)>,
}

impl CookieJar {
    /// Every value of the named cookie (path-scoped cookies can repeat a name).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }
}

/// Parse `Cookie` header values. Malformed pieces are skipped, never fatal.
pub fn parse_cookies<'a>(headers: impl IntoIterator<Item = &'a str>) -> CookieJar {
    let mut pairs = Vec::new();
    for header in headers {
        for piece in header.split(';') {
            let piece = piece.trim();
            if let Some((name, value)) = piece.split_once('=') {
                let value = value.trim().trim_matches('"');
                if !name.is_empty() && !value.is_empty() {
                    pairs.push((name.trim().to_string(), value.to_string()));
                }
            }
        }
    }
    CookieJar { pairs }
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_repeated_and_spaced_cookies() {
        let jar = parse_cookies([
            "a=1; anteroom_pass=x",
            "anteroom_pass=y;b=\"2\"",
            "junk; =z",
        ]);
        assert_eq!(jar.all("anteroom_pass").collect::<Vec<_>>(), vec!["x", "y"]);
        assert_eq!(jar.first("b"), Some("2"));
        assert_eq!(jar.first("junk"), None);
    }

    #[test]
    fn set_cookie_has_the_safety_attributes() {
        let cookie = set_cookie("anteroom_pass", "v1.k.p.m", "/tour", 60, true);
        assert_eq!(
            cookie,
            "anteroom_pass=v1.k.p.m; Path=/tour; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
