//! A room's bot-guard rules changed live (admin `PATCH /v1/rooms/{id}/guard`, `anteroom ctl
//! guard`): a partial set of the `[bot_guard]` keys, checked like the config file checks
//! them, kept in the shared store so every instance applies it within a second, and laid
//! over the room's configured rules.

use anteroom_config::{
    BotGuardConfig, BotGuardOverride, ChallengeMode, Cidr, MAX_GUARD_DIFFICULTY, MAX_VELOCITY,
};
use serde_json::{json, Map, Value};

/// The keys a live change may carry (the `[bot_guard]` keys).
pub const LIVE_KEYS: &[&str] = &[
    "enabled",
    "max_places_per_ip",
    "max_places_per_fingerprint",
    "allow_cidrs",
    "block_cidrs",
    "block_user_agents",
    "challenge",
    "difficulty_floor",
    "difficulty_cap",
    "velocity_per_ip",
    "velocity_per_subnet",
    "velocity_per_fingerprint",
    "velocity_per_visitor",
];

/// Read a live change (a JSON object of `[bot_guard]` keys) into an override, reporting every
/// problem at once.
pub fn parse_live(value: &Value) -> Result<BotGuardOverride, Vec<String>> {
    let Some(object) = value.as_object() else {
        return Err(vec!["expected a JSON object of [bot_guard] keys".into()]);
    };
    let mut problems = Vec::new();
    let mut live = BotGuardOverride::default();
    for (key, value) in object {
        match key.as_str() {
            "enabled" => match value.as_bool() {
                Some(enabled) => live.enabled = Some(enabled),
                None => problems.push("enabled: true or false".into()),
            },
            "max_places_per_ip" | "max_places_per_fingerprint" => {
                match value.as_u64().filter(|n| (1..=1_000_000).contains(n)) {
                    Some(n) => {
                        let n = u32::try_from(n).unwrap_or(u32::MAX);
                        if key == "max_places_per_ip" {
                            live.max_places_per_ip = Some(n);
                        } else {
                            live.max_places_per_fingerprint = Some(n);
                        }
                    }
                    None => problems.push(format!("{key}: an integer from 1 to 1000000")),
                }
            }
            "velocity_per_ip"
            | "velocity_per_subnet"
            | "velocity_per_fingerprint"
            | "velocity_per_visitor" => {
                match value
                    .as_u64()
                    .filter(|n| (1..=u64::from(MAX_VELOCITY)).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                {
                    Some(n) => {
                        let slot = match key.as_str() {
                            "velocity_per_ip" => &mut live.velocity_per_ip,
                            "velocity_per_subnet" => &mut live.velocity_per_subnet,
                            "velocity_per_fingerprint" => &mut live.velocity_per_fingerprint,
                            _ => &mut live.velocity_per_visitor,
                        };
                        *slot = Some(n);
                    }
                    None => problems.push(format!(
                        "{key}: requests per 10 seconds, an integer from 1 to {MAX_VELOCITY}"
                    )),
                }
            }
            "allow_cidrs" | "block_cidrs" => match cidrs(value) {
                Ok(list) if key == "allow_cidrs" => live.allow_cidrs = Some(list),
                Ok(list) => live.block_cidrs = Some(list),
                Err(problem) => problems.push(format!("{key}: {problem}")),
            },
            "block_user_agents" => match strings(value) {
                Some(list) => {
                    live.block_user_agents =
                        Some(list.iter().map(|pattern| pattern.to_lowercase()).collect())
                }
                None => {
                    problems.push("block_user_agents: a list of strings of 1 to 128 bytes".into())
                }
            },
            "challenge" => match value.as_str().and_then(ChallengeMode::parse) {
                Some(mode) => live.challenge = Some(mode),
                None => problems.push(format!("challenge: one of {}", ChallengeMode::ALLOWED)),
            },
            "difficulty_floor" | "difficulty_cap" => {
                match value
                    .as_u64()
                    .filter(|n| *n <= u64::from(MAX_GUARD_DIFFICULTY))
                    .and_then(|n| u8::try_from(n).ok())
                {
                    Some(level) if key == "difficulty_floor" => live.difficulty_floor = Some(level),
                    Some(level) => live.difficulty_cap = Some(level),
                    None => problems.push(format!(
                        "{key}: an integer from 0 to {MAX_GUARD_DIFFICULTY}"
                    )),
                }
            }
            other => problems.push(format!(
                "unknown field `{other}`: allowed are {}",
                LIVE_KEYS.join(", ")
            )),
        }
    }
    if problems.is_empty() {
        Ok(live)
    } else {
        Err(problems)
    }
}

fn cidrs(value: &Value) -> Result<Vec<Cidr>, String> {
    let list = value.as_array().ok_or("a list of CIDRs")?;
    if list.len() > 1024 {
        return Err("at most 1024 entries".into());
    }
    list.iter()
        .map(|item| {
            let text = item.as_str().ok_or("a list of CIDR strings")?;
            Cidr::parse(text).map_err(|problem| format!("{text:?}: {problem}"))
        })
        .collect()
}

fn strings(value: &Value) -> Option<Vec<String>> {
    let list = value.as_array()?;
    (list.len() <= 1024).then_some(())?;
    list.iter()
        .map(|item| {
            item.as_str()
                .filter(|text| (1..=128).contains(&text.len()))
                .map(str::to_string)
        })
        .collect()
}

/// `later` laid over `earlier`: what a second change says wins, the rest stays.
pub fn merge(earlier: &BotGuardOverride, later: &BotGuardOverride) -> BotGuardOverride {
    BotGuardOverride {
        enabled: later.enabled.or(earlier.enabled),
        max_places_per_ip: later.max_places_per_ip.or(earlier.max_places_per_ip),
        max_places_per_fingerprint: later
            .max_places_per_fingerprint
            .or(earlier.max_places_per_fingerprint),
        allow_cidrs: later
            .allow_cidrs
            .clone()
            .or_else(|| earlier.allow_cidrs.clone()),
        block_cidrs: later
            .block_cidrs
            .clone()
            .or_else(|| earlier.block_cidrs.clone()),
        block_user_agents: later
            .block_user_agents
            .clone()
            .or_else(|| earlier.block_user_agents.clone()),
        challenge: later.challenge.or(earlier.challenge),
        difficulty_floor: later.difficulty_floor.or(earlier.difficulty_floor),
        difficulty_cap: later.difficulty_cap.or(earlier.difficulty_cap),
        velocity_per_ip: later.velocity_per_ip.or(earlier.velocity_per_ip),
        velocity_per_subnet: later.velocity_per_subnet.or(earlier.velocity_per_subnet),
        velocity_per_fingerprint: later
            .velocity_per_fingerprint
            .or(earlier.velocity_per_fingerprint),
        velocity_per_visitor: later.velocity_per_visitor.or(earlier.velocity_per_visitor),
    }
}

/// The live change as stored (only the keys it sets).
pub fn to_json(live: &BotGuardOverride) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            object.insert(key.to_string(), value);
        }
    };
    let texts = |list: &Vec<Cidr>| json!(list.iter().map(ToString::to_string).collect::<Vec<_>>());
    put("enabled", live.enabled.map(Value::from));
    put("max_places_per_ip", live.max_places_per_ip.map(Value::from));
    put(
        "max_places_per_fingerprint",
        live.max_places_per_fingerprint.map(Value::from),
    );
    put("allow_cidrs", live.allow_cidrs.as_ref().map(texts));
    put("block_cidrs", live.block_cidrs.as_ref().map(texts));
    put(
        "block_user_agents",
        live.block_user_agents.as_ref().map(|list| json!(list)),
    );
    put("challenge", live.challenge.map(|mode| json!(mode.as_str())));
    put("difficulty_floor", live.difficulty_floor.map(Value::from));
    put("difficulty_cap", live.difficulty_cap.map(Value::from));
    put("velocity_per_ip", live.velocity_per_ip.map(Value::from));
    put(
        "velocity_per_subnet",
        live.velocity_per_subnet.map(Value::from),
    );
    put(
        "velocity_per_fingerprint",
        live.velocity_per_fingerprint.map(Value::from),
    );
    put(
        "velocity_per_visitor",
        live.velocity_per_visitor.map(Value::from),
    );
    Value::Object(object)
}

/// The rules in force, as the admin API shows them.
pub fn effective_json(rules: &BotGuardConfig) -> Value {
    json!({
        "enabled": rules.enabled,
        "max_places_per_ip": rules.max_places_per_ip,
        "max_places_per_fingerprint": rules.max_places_per_fingerprint,
        "allow_cidrs": rules.allow_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "block_cidrs": rules.block_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "block_user_agents": rules.block_user_agents,
        "challenge": rules.challenge.as_str(),
        "difficulty_floor": rules.difficulty_floor,
        "difficulty_cap": rules.difficulty_cap,
        "velocity_per_ip": rules.velocity_per_ip,
        "velocity_per_subnet": rules.velocity_per_subnet,
        "velocity_per_fingerprint": rules.velocity_per_fingerprint,
        "velocity_per_visitor": rules.velocity_per_visitor,
    })
}

/// Whether the rules hold together (a floor above the cap does not).
pub fn check(rules: &BotGuardConfig) -> Result<(), String> {
    if rules.difficulty_floor > rules.difficulty_cap {
        return Err(format!(
            "difficulty_floor {} is above difficulty_cap {}",
            rules.difficulty_floor, rules.difficulty_cap
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_change_is_read_checked_and_round_trips() {
        let value =
            json!({"challenge": "always", "max_places_per_ip": 2, "allow_cidrs": ["10.0.0.0/8"]});
        let live = parse_live(&value).unwrap();
        assert_eq!(live.challenge, Some(ChallengeMode::Always));
        assert_eq!(live.max_places_per_ip, Some(2));
        assert_eq!(parse_live(&to_json(&live)).unwrap(), live);
    }

    #[test]
    fn velocity_limits_change_live_within_their_range() {
        let live =
            parse_live(&json!({"velocity_per_ip": 400, "velocity_per_visitor": 15})).unwrap();
        assert_eq!(live.velocity_per_ip, Some(400));
        assert_eq!(live.velocity_per_visitor, Some(15));
        assert_eq!(live.velocity_per_subnet, None);
        assert_eq!(parse_live(&to_json(&live)).unwrap(), live);
        let effective = BotGuardConfig::default().with_override(&live);
        assert_eq!(effective_json(&effective)["velocity_per_ip"], 400);
        assert_eq!(effective_json(&effective)["velocity_per_subnet"], 200);
        for bad in [json!(0), json!(1_000_001), json!("many"), json!(2.5)] {
            let problems = parse_live(&json!({ "velocity_per_subnet": bad })).unwrap_err();
            assert!(
                problems[0].contains("requests per 10 seconds"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let value = json!({"challenge": "sometimes", "max_places_per_ip": 0, "allow_cidrs": ["10.1.2.3/8"], "colour": 1});
        let problems = parse_live(&value).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.contains("unknown field `colour`")));
    }

    #[test]
    fn a_later_change_wins_key_by_key() {
        let earlier = parse_live(&json!({"challenge": "always", "max_places_per_ip": 2})).unwrap();
        let later = parse_live(&json!({"max_places_per_ip": 8})).unwrap();
        let merged = merge(&earlier, &later);
        assert_eq!(merged.challenge, Some(ChallengeMode::Always));
        assert_eq!(merged.max_places_per_ip, Some(8));
    }
}
