//! The pages the gateway serves itself: the waiting room, the closed door, origin errors.
//! Templates are plain HTML with `{{NAME}}` slots; every inserted text is escaped.

use crate::gateway::StatusObject;

const WAITING: &str = include_str!("waiting.html");
const MESSAGE: &str = include_str!("message.html");

pub fn waiting_page(status: &StatusObject) -> String {
    let position = status
        .position
        .map(|position| position.to_string())
        .unwrap_or_default();
    let eta = match status.eta_seconds {
        Some(eta) => format!("Estimated wait: {} – {} s", eta.low, eta.high),
        None => String::new(),
    };
    let (message, hidden) = match &status.message {
        Some(message) => (escape_html(message), ""),
        None => (String::new(), "hidden"),
    };
    WAITING
        .replace("{{POSITION}}", &position)
        .replace("{{ETA}}", &escape_html(&eta))
        .replace("{{MESSAGE_HIDDEN}}", hidden)
        .replace("{{MESSAGE}}", &message)
        .replace("{{STATUS_JSON}}", &script_safe_json(&status.to_json()))
}

pub fn closed_page(status: &StatusObject) -> String {
    let detail = status
        .message
        .clone()
        .unwrap_or_else(|| "This sale is not open right now. Please come back later.".into());
    message_page(503, "Closed", &detail)
}

pub fn error_page(code: u16, title: &str, detail: &str) -> String {
    message_page(code, title, detail)
}

fn message_page(code: u16, title: &str, detail: &str) -> String {
    MESSAGE
        .replace("{{TITLE}}", &escape_html(title))
        .replace("{{DETAIL}}", &escape_html(detail))
        .replace("{{CODE}}", &code.to_string())
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON embedded in a `<script>` must not be able to close it.
fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_text_cannot_inject_markup() {
        assert_eq!(
            escape_html("<b>\"x\"&'"),
            "&lt;b&gt;&quot;x&quot;&amp;&#39;"
        );
        assert!(!script_safe_json(r#"{"m":"</script>"}"#).contains("</script>"));
    }
}
