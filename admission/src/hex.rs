//! Lowercase hex text of bytes, the one encoder every crate uses (visitor ids, fingerprints,
//! hold and challenge ids, store keys). A digit table, not `format!("{:02x}")` per byte:
//! that costs a formatter call per byte on paths that run for every visitor.

/// Append the lowercase hex digits of `bytes` to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(hex_digit(byte >> 4)));
        out.push(char::from(hex_digit(byte & 0x0f)));
    }
}

/// The lowercase hex digits of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// The digit of a nibble (0-15).
pub(crate) fn hex_digit(n: u8) -> u8 {
    if n < 10 {
        b'0' + n
    } else {
        b'a' + (n - 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_formatter() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex_lower(&bytes), expected);
        let mut out = String::from("fp:");
        push_hex(&mut out, &[0xab, 0x01]);
        assert_eq!(out, "fp:ab01");
    }
}
