use anteroom_admission::Eta;
use anteroom_config::PAGE_PLACEHOLDERS;

use super::wording::ALL_STATES;
use super::*;
use crate::gateway::VisitorState;

const VISITOR: &str = "vid-SECRET-signed-visitor";
const PASS: &str = "v1.k1.PASS-SECRET.mac";

fn status(state: VisitorState) -> StatusObject {
    let position = matches!(state, VisitorState::Waiting | VisitorState::Paused).then_some(1235);
    StatusObject {
        room: "tour-2027".into(),
        visitor: VISITOR.into(),
        state,
        position,
        waiting: 50_000,
        admit_per_second: 50.0,
        eta_seconds: (state == VisitorState::Waiting).then_some(Eta {
            low: 100,
            high: 250,
        }),
        message: None,
        pass: Some(PASS.into()),
        challenge: None,
        waitlist: None,
    }
}

fn template(text: &str) -> PageTemplate {
    PageTemplate {
        path: "/etc/anteroom/test.html".into(),
        text: text.into(),
    }
}

/// The text of the first element marked `data-anteroom="NAME"`.
fn marked<'a>(page: &'a str, name: &str) -> &'a str {
    let marker = format!("data-anteroom=\"{name}\"");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no {marker}"));
    let open_end = at + page[at..].find('>').unwrap() + 1;
    let close = open_end + page[open_end..].find('<').unwrap();
    &page[open_end..close]
}

#[test]
fn operator_text_cannot_inject_markup() {
    assert_eq!(
        escape_html("<b>\"x\"&'"),
        "&lt;b&gt;&quot;x&quot;&amp;&#39;"
    );
    assert!(!script_safe_json(r#"{"m":"</script>"}"#).contains("</script>"));

    let mut waiting = status(VisitorState::Waiting);
    waiting.message = Some("<script>alert('x')</script> & {{client_script}}".into());
    for page in [
        waiting_page(&waiting, None),
        waiting_page(
            &waiting,
            Some(&template(
                "<p>{{message}}</p><script>var s = {{status_json}};</script>",
            )),
        ),
    ] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("</script> &"), "{page}");
        // The slot's value is never read again for slots.
        assert!(page
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; {{client_script}}"));
        assert!(page.contains("\\u003cscript\\u003ealert('x')\\u003c/script\\u003e"));
    }
}

#[test]
fn first_paint_shows_the_figures_without_script() {
    let page = waiting_page(&status(VisitorState::Waiting), None);
    assert_eq!(marked(&page, "position"), "1,235");
    assert_eq!(marked(&page, "ahead"), "1,234 people are ahead of you.");
    assert_eq!(marked(&page, "eta"), "about 2–4 minutes");
    assert_eq!(marked(&page, "headline"), "You&#39;re in line");
    assert_eq!(marked(&page, "message"), "");
    assert!(page.contains("<html lang=\"en\" data-state=\"waiting\">"));
    assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"10\"></noscript>"));
    assert!(page.contains("aria-live=\"polite\""));
    assert!(page.contains("<progress data-anteroom=\"progress\""));
    assert!(page.contains("<main>"));
    assert!(
        !page.contains("{{"),
        "every slot of the built-in page is filled"
    );
}

#[test]
fn every_state_has_its_words_and_a_refresh() {
    for state in ALL_STATES {
        let page = waiting_page(&status(state), None);
        let words = state_text(state);
        let name = state_name(&status(state));
        assert!(page.contains(&format!("data-state=\"{name}\"")), "{name}");
        assert_eq!(
            marked(&page, "headline"),
            escape_html(words.headline),
            "{name}"
        );
        assert_eq!(marked(&page, "detail"), escape_html(words.detail), "{name}");
        let refresh = format!("content=\"{}\"", status(state).retry_after());
        assert!(page.contains(&refresh), "{name}: {refresh}");
        assert!(page.contains(&format!("\"state\":\"{name}\"")), "{name}");
    }
    let paused = waiting_page(&status(VisitorState::Paused), None);
    assert_eq!(marked(&paused, "headline"), "The line is paused");
    assert_eq!(
        marked(&paused, "position"),
        "1,235",
        "a paused line keeps places"
    );
    let sold_out = waiting_page(&status(VisitorState::SoldOut), None);
    assert_eq!(marked(&sold_out, "headline"), "Sold out");
    assert_eq!(marked(&sold_out, "position"), "");
    let closed = waiting_page(&status(VisitorState::Closed), None);
    assert_eq!(marked(&closed, "headline"), "Closed");
}

#[test]
fn no_estimate_shows_no_eta() {
    let mut paused = status(VisitorState::Paused);
    paused.eta_seconds = None;
    let page = waiting_page(&paused, None);
    assert_eq!(marked(&page, "eta"), "");
    assert!(page.contains("\"eta_seconds\":null"));
}

#[test]
fn the_page_never_carries_the_visitor_id_or_the_pass() {
    for state in ALL_STATES {
        let page = waiting_page(&status(state), None);
        assert!(!page.contains("SECRET"), "{state:?}");
        let all: String = PAGE_PLACEHOLDERS
            .iter()
            .map(|name| format!("{{{{{name}}}}}"))
            .collect();
        assert!(!waiting_page(&status(state), Some(&template(&all))).contains("SECRET"));
    }
}

#[test]
fn a_template_gets_every_documented_placeholder() {
    let mut waiting = status(VisitorState::Waiting);
    waiting.message = Some("Doors at 10".into());
    for name in PAGE_PLACEHOLDERS {
        assert!(
            waiting_value(&waiting, name).is_some(),
            "{name} is documented but not filled"
        );
    }
    for (_, name) in template_slots(WAITING) {
        assert!(PAGE_PLACEHOLDERS.contains(&name), "built-in uses {name}");
    }
    let page = waiting_page(
        &waiting,
        Some(&template(
            "{{room}}|{{state}}|{{headline}}|{{position}}|{{ahead}}|{{waiting}}|{{eta}}|{{message}}|{{refresh_seconds}}|{{waitlist_url}}|{{status_json}}",
        )),
    );
    assert_eq!(
        page,
        "tour-2027|waiting|You&#39;re in line|1,235|1,234 people are ahead of you.|50,000|about 2–4 minutes|Doors at 10|10||\
         {\"admit_per_second\":50.0,\"challenge\":null,\"eta_seconds\":{\"high\":250,\"low\":100},\"message\":\"Doors at 10\",\"position\":1235,\"room\":\"tour-2027\",\"state\":\"waiting\",\"waiting\":50000,\"waitlist\":null}"
    );
    let scripted = waiting_page(&waiting, Some(&template("<body>{{client_script}}</body>")));
    assert!(scripted.contains("id=\"anteroom-data\""));
    assert!(scripted.contains("/_anteroom/events"));
    assert!(scripted.contains("\"sold_out\":{\"detail\":\"Everything has been sold."));
}

#[test]
fn error_pages_fill_their_slots() {
    let page = error_page(502, "Bad <gateway>", "origin down");
    assert!(page.contains("<h1>Bad &lt;gateway&gt;</h1>"));
    assert!(page.contains("502 · Anteroom"));
    assert!(!page.contains("{{"));
}

#[test]
fn the_client_script_carries_the_proof_of_work_solver_inline() {
    let page = waiting_page(&status(VisitorState::Waiting), None);
    // client.js builds its Worker from this element's text: no external asset.
    assert!(page.contains("<script id=\"anteroom-pow\">\n// Proof of work"));
    assert!(page.contains("var anteroomPow"));
    assert!(page.contains("/_anteroom/challenge?room="));
    assert!(page.contains("role=\"status\" data-anteroom=\"check\""));
    for script in [POW_JS, CLIENT_JS] {
        assert!(
            !script.to_ascii_lowercase().contains("</script"),
            "inlined as is: it may not close its element"
        );
    }
}

#[test]
fn a_status_with_a_challenge_says_the_browser_is_being_checked() {
    let mut checking = status(VisitorState::Waiting);
    checking.position = None;
    checking.eta_seconds = None;
    checking.challenge = Some(crate::gateway::status::ChallengeInfo {
        url: "/_anteroom/challenge?room=tour-2027".into(),
        difficulty: 4,
    });
    let page = waiting_page(&checking, None);
    assert!(page.contains("<h1 data-anteroom=\"headline\">Checking your browser</h1>"));
    assert!(
        page.contains("with JavaScript on"),
        "says why it needs scripts"
    );
    // The script starts solving from the first paint's status, and words it from the table.
    assert!(page.contains(
        "\"challenge\":{\"difficulty\":4,\"url\":\"/_anteroom/challenge?room=tour-2027\"}"
    ));
    assert!(page.contains("\"checking\":{\"detail\":"));
    let plain = waiting_page(&status(VisitorState::Waiting), None);
    assert!(plain.contains("You&#39;re in line") && plain.contains("\"challenge\":null"));
}

const JOIN: &str = "https://shop.example/w?event=E1&from='queue'";

#[test]
fn a_sold_out_page_links_to_the_waitlist_when_the_room_has_one() {
    let sold_out = status(VisitorState::SoldOut).with_waitlist(Some(JOIN));
    assert!(sold_out
        .to_json()
        .ends_with(",\"waitlist\":{\"join\":\"https://shop.example/w?event=E1&from='queue'\"}}"));
    let page = waiting_page(&sold_out, None);
    let escaped = "https://shop.example/w?event=E1&amp;from=&#39;queue&#39;";
    assert!(
        page.contains(&format!(
            "data-anteroom=\"waitlist\" data-join=\"{escaped}\""
        )),
        "{page}"
    );
    assert!(page.contains(&format!(
        "<a class=\"join\" data-anteroom=\"waitlist-join\" href=\"{escaped}\">Join the waitlist</a>"
    )));
    assert_eq!(marked(&page, "headline"), "Sold out");
    // The script gets it too, and keeps the link current from the live status.
    assert!(page.contains(
        "\"waitlist\":{\"join\":\"https://shop.example/w?event=E1\\u0026from='queue'\"}"
    ));
    assert!(CLIENT_JS.contains("s.waitlist.join"));
    // A template gets the link through its placeholder, escaped for an attribute.
    let own = waiting_page(
        &sold_out,
        Some(&template("<a href=\"{{waitlist_url}}\">join</a>")),
    );
    assert_eq!(own, format!("<a href=\"{escaped}\">join</a>"));
}

#[test]
fn no_waitlist_link_without_a_sold_out_room_that_has_one() {
    let without = waiting_page(&status(VisitorState::SoldOut).with_waitlist(None), None);
    assert!(without.contains("data-anteroom=\"waitlist\" data-join=\"\""));
    assert!(without.contains("\"waitlist\":null"));
    assert!(
        WAITING.contains(".waitlist[data-join=\"\"] { display: none; }"),
        "an empty link is hidden"
    );
    for state in ALL_STATES
        .into_iter()
        .filter(|state| *state != VisitorState::SoldOut)
    {
        let with = status(state).with_waitlist(Some(JOIN));
        assert_eq!(with.waitlist, None, "{state:?}");
        assert!(with.to_json().contains("\"waitlist\":null"), "{state:?}");
        assert!(
            !waiting_page(&with, None).contains("shop.example"),
            "{state:?}"
        );
    }
}
