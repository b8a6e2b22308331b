//! The pages the gateway serves itself: the waiting room (built in, or the room's
//! `page_template`) and origin errors. Templates are HTML with `{{name}}` slots, read the way
//! `anteroom_config::template_slots` defines; every inserted text is escaped. The waiting
//! page's placeholders are documented in docs/waiting-page.md.

mod wording;

use std::sync::LazyLock;

use anteroom_config::{template_slots, PageTemplate};
use serde_json::json;

use crate::gateway::StatusObject;
use wording::{ahead_phrase, eta_phrase, grouped, state_text, StateText, ALL_STATES, CHECKING};

const WAITING: &str = include_str!("waiting.html");
const CLIENT_JS: &str = include_str!("client.js");
/// The proof-of-work solver: run in the page, and by client.js as a Worker from its text.
const POW_JS: &str = include_str!("pow-worker.js");
const MESSAGE: &str = include_str!("message.html");

/// The waiting page for a visitor who may not enter yet, in any state (closed and sold out
/// included), from the room's template or the built-in one. Carries the status without the
/// visitor id or the pass.
pub fn waiting_page(status: &StatusObject, template: Option<&PageTemplate>) -> String {
    let text = template.map_or(WAITING, |template| template.text.as_str());
    fill(text, |name| waiting_value(status, name))
}

pub fn error_page(code: u16, title: &str, detail: &str) -> String {
    fill(MESSAGE, |name| match name {
        "title" => Some(escape_html(title)),
        "detail" => Some(escape_html(detail)),
        "code" => Some(code.to_string()),
        _ => None,
    })
}

/// One pass over the template: a value is never read again for slots, so an operator's
/// message that says `{{client_script}}` stays text. Unknown slots stay as written.
fn fill(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 4096);
    let mut done = 0;
    for (range, name) in template_slots(text) {
        let Some(filled) = value(name) else { continue };
        out.push_str(text.get(done..range.start).unwrap_or(""));
        out.push_str(&filled);
        done = range.end;
    }
    out.push_str(text.get(done..).unwrap_or(""));
    out
}

/// The words of the status: the state's, or the browser check's while a challenge is due.
fn words(status: &StatusObject) -> StateText {
    if status.challenge.is_some() {
        CHECKING
    } else {
        state_text(status.state)
    }
}

fn waiting_value(status: &StatusObject, name: &str) -> Option<String> {
    let words = words(status);
    Some(match name {
        "room" => escape_html(&status.room),
        "state" => state_name(status),
        "headline" => escape_html(words.headline),
        "detail" => escape_html(words.detail),
        "position" => status.position.map(grouped).unwrap_or_default(),
        "ahead" => escape_html(&ahead_phrase(status.position)),
        "waiting" => grouped(status.waiting),
        "eta" => escape_html(&eta_phrase(status.eta_seconds)),
        "message" => escape_html(status.message.as_deref().unwrap_or("")),
        "refresh_seconds" => status.retry_after().to_string(),
        // Empty unless sold out with a waitlist: the built-in page hides its link then.
        "waitlist_url" => escape_html(
            status
                .waitlist
                .as_ref()
                .map_or("", |waitlist| waitlist.join.as_str()),
        ),
        "status_json" => script_safe_json(&page_status(status).to_string()),
        "client_script" => client_script(status),
        _ => return None,
    })
}

/// The status as the page may carry it: everything but the visitor id and the pass.
fn page_status(status: &StatusObject) -> serde_json::Value {
    json!({
        "room": status.room,
        "state": status.state,
        "position": status.position,
        "waiting": status.waiting,
        "admit_per_second": status.admit_per_second,
        "eta_seconds": status.eta_seconds,
        "message": status.message,
        "challenge": status.challenge,
        "waitlist": status.waitlist,
    })
}

fn state_name(status: &StatusObject) -> String {
    serde_json::to_value(status.state)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Each state's words, for the client script (the same table the first paint uses).
static STATE_TEXTS: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let texts: serde_json::Map<String, serde_json::Value> = ALL_STATES
        .iter()
        .filter_map(|state| {
            let name = serde_json::to_value(state).ok()?.as_str()?.to_string();
            Some((name, serde_json::to_value(state_text(*state)).ok()?))
        })
        .chain(
            serde_json::to_value(CHECKING)
                .ok()
                .map(|words| ("checking".to_string(), words)),
        )
        .collect();
    serde_json::Value::Object(texts)
});

fn client_script(status: &StatusObject) -> String {
    let data = json!({ "status": page_status(status), "text": *STATE_TEXTS });
    format!(
        "<script type=\"application/json\" id=\"anteroom-data\">{}</script>\n<script id=\"anteroom-pow\">\n{POW_JS}</script>\n<script>\n{CLIENT_JS}</script>",
        script_safe_json(&data.to_string())
    )
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
mod tests;
