//! Writing `Set-Cookie` values (reading `Cookie` headers is `anteroom_admission::parse_cookies`).

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_has_the_safety_attributes() {
        let cookie = set_cookie("anteroom_pass", "v1.k.p.m", "/tour", 60, true);
        assert_eq!(
            cookie,
            "anteroom_pass=v1.k.p.m; Path=/tour; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
