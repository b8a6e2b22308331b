//! `RedisGuardStore`: the guard's counters shared by every gateway instance on one Redis.
//! `check` is one Lua script (`lua/guard_check.lua` + `lua/check.lua`, one round trip,
//! atomic, Redis `TIME`); `check_and_join` is the same check with the shadow read and the
//! queue's join in one script (`lua/check_and_join.lua`, ADR 0007); the other operations are
//! one plain command each. Keys: see `keys`.

use anteroom_admission::VisitorId;
use anteroom_queue::keys::{visitor_member, RoomKeys};
use anteroom_queue::{
    connect_pool, decode_join_reply, is_transient_redis_error, run_script, unknown_room,
    RedisOptions, StoreError, JOIN_FUNCTION_LUA,
};
use async_trait::async_trait;
use fred::error::Error;
use fred::prelude::{ClientLike, KeysInterface, Pool};
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions, Value};

use super::{
    keys, span_ms, CheckedJoin, GuardCheck, GuardCounts, GuardStore, GuardStoreError,
    VelocityResult,
};

/// `guard_check(kbase, abase)`: the check, shared by both scripts.
const GUARD_CHECK_LUA: &str = include_str!("lua/guard_check.lua");

/// The check script (for benchmarks and tests that call it directly).
pub const CHECK_LUA: &str = concat!(
    include_str!("lua/guard_check.lua"),
    "\n",
    include_str!("lua/check.lua")
);

/// The check folded into the join (ADR 0007): the queue's prelude and `join_place()`, the
/// check, then `lua/check_and_join.lua`.
pub fn check_and_join_lua() -> String {
    [
        JOIN_FUNCTION_LUA,
        GUARD_CHECK_LUA,
        include_str!("lua/check_and_join.lua"),
    ]
    .join("\n")
}

/// Latest shadow end the store accepts (2^53 ms, far beyond any real date): Redis refuses a
/// PXAT that overflows its clock arithmetic.
const MAX_UNTIL_MS: u64 = 1 << 53;

pub struct RedisGuardStore {
    pool: Pool,
    check: Script,
    check_and_join: Script,
}

impl RedisGuardStore {
    /// Connect with the queue's reconnect policy and timeouts (`connect_pool`: fails at once
    /// if Redis cannot be reached now) and load the script.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisGuardStore, StoreError> {
        let pool = connect_pool(url, &options).await?;
        let store = RedisGuardStore::new(pool);
        for script in [&store.check, &store.check_and_join] {
            script
                .load(store.pool.next())
                .await
                .map_err(|e| StoreError::Unavailable(format!("load the guard scripts: {e}")))?;
        }
        Ok(store)
    }

    /// On a pool already connected (e.g. shared with another store); the scripts are loaded
    /// on first use. `check_and_join` joins the queue on this same Redis: make the store on
    /// the queue's Redis (the gateway makes both from its one `[store]`).
    pub fn new(pool: Pool) -> RedisGuardStore {
        RedisGuardStore {
            pool,
            check: Script::from_lua(CHECK_LUA),
            check_and_join: Script::from_lua(check_and_join_lua()),
        }
    }

    /// Close every connection.
    pub async fn quit(&self) -> Result<(), GuardStoreError> {
        self.pool.quit().await.map_err(guard_error)
    }

    /// Run one of the scripts with what `input` makes: its reply's numbers.
    async fn eval(
        &self,
        script: &Script,
        input: impl Fn() -> (Vec<String>, Vec<Value>),
    ) -> Result<Vec<i64>, GuardStoreError> {
        run_script(script, self.pool.next(), input)
            .await
            .map_err(guard_error)
    }
}

fn guard_error(error: Error) -> GuardStoreError {
    if is_transient_redis_error(&error) {
        GuardStoreError::Unavailable(error.to_string())
    } else {
        GuardStoreError::Protocol(error.to_string())
    }
}

/// `KEYS` and `ARGV` of the check script (layout in `guard_check.lua`).
fn script_input(room: &str, check: &GuardCheck) -> (Vec<String>, Vec<Value>) {
    let mut keys = Vec::with_capacity(check.velocity.len() + 4);
    let mut args = Vec::with_capacity(2);
    push_check(room, check, &mut keys, &mut args);
    (keys, args)
}

/// `KEYS` and `ARGV` of the check-and-join script (layout in `check_and_join.lua`): the
/// queue's keys with a join, the shadow key with a shadow read, then the check's.
fn check_and_join_input(
    room: &str,
    check: &GuardCheck,
    shadow_of: Option<VisitorId>,
    join: Option<VisitorId>,
) -> (Vec<String>, Vec<Value>) {
    let mut keys = Vec::with_capacity(check.velocity.len() + 17);
    let mut args: Vec<Value> = Vec::with_capacity(4);
    match join {
        Some(visitor) => {
            keys.extend(RoomKeys::new(room).to_vec());
            args.push(visitor_member(visitor).into());
        }
        None => args.push("".into()),
    }
    match shadow_of {
        Some(visitor) => {
            keys.push(keys::shadow(room, visitor));
            args.push("1".into());
        }
        None => args.push("0".into()),
    }
    push_check(room, check, &mut keys, &mut args);
    (keys, args)
}

/// Append the check's keys and arguments (layout in `guard_check.lua`): a key per velocity
/// counter, then a zset per place subject; the numbers as one layout argument of
/// little-endian f64s (whole numbers below 2^53: limits and maxima are u32s, windows and
/// holds are clamped to `MAX_WINDOW_MS`), then the visitor of the place check.
fn push_check(room: &str, check: &GuardCheck, keys: &mut Vec<String>, args: &mut Vec<Value>) {
    let mut layout = Vec::with_capacity(8 * (3 + 2 * check.velocity.len()));
    let mut push = |number: u64| layout.extend_from_slice(&(number as f64).to_le_bytes());
    push(check.velocity.len() as u64);
    for limit in &check.velocity {
        let window = span_ms(limit.window_ms);
        keys.push(keys::velocity(room, window, &limit.subject));
        push(u64::from(limit.limit));
        push(window);
    }
    if let Some(places) = &check.places {
        push(span_ms(places.hold_ms));
        for place in &places.subjects {
            keys.push(keys::places(room, &place.subject));
            push(u64::from(place.max));
        }
    }
    args.push(Value::Bytes(layout.into()));
    if let Some(places) = &check.places {
        args.push(places.visitor.to_hex().into());
    }
}

fn protocol(what: &str, reply: &[i64]) -> GuardStoreError {
    GuardStoreError::Protocol(format!("check script: {what} in reply {reply:?}"))
}

fn number<T: TryFrom<i64>>(value: i64, reply: &[i64]) -> Result<T, GuardStoreError> {
    T::try_from(value).map_err(|_| protocol("a number out of range", reply))
}

/// A count, saturating as the memory store's does (up to 10 × a limit near `u32::MAX`).
fn saturated(value: i64, reply: &[i64]) -> Result<u32, GuardStoreError> {
    let count: u64 = number(value, reply)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The check-and-join script's reply: `{shadowed, join state, check reply..., join
/// reply...}` for a check of `velocity` counters and `subjects` place subjects.
fn checked_join(
    room: &str,
    reply: &[i64],
    velocity: usize,
    subjects: usize,
    places: bool,
) -> Result<CheckedJoin, GuardStoreError> {
    let [shadowed, state, rest @ ..] = reply else {
        return Err(protocol("too few numbers", reply));
    };
    let check_len = 2 * velocity + 1 + if places { subjects } else { 0 };
    let (check, join) = rest
        .split_at_checked(check_len)
        .ok_or_else(|| protocol("too few numbers", reply))?;
    let joined = match (*state, join) {
        (0, []) => None,
        (1, join) => Some(decode_join_reply(join)),
        (2, []) => Some(Err(unknown_room(room))),
        _ => return Err(protocol("a bad join part", reply)),
    };
    Ok(CheckedJoin {
        counts: counts(check, velocity, subjects)?,
        shadowed: match shadowed {
            0 => false,
            1 => true,
            _ => return Err(protocol("a bad shadow flag", reply)),
        },
        joined,
    })
}

/// The check script's reply into counts, for a check of `velocity` counters and
/// `subjects` place subjects.
fn counts(reply: &[i64], velocity: usize, subjects: usize) -> Result<GuardCounts, GuardStoreError> {
    let (pairs, place) = reply
        .split_at_checked(2 * velocity)
        .ok_or_else(|| protocol("too few numbers", reply))?;
    let velocity = pairs
        .chunks_exact(2)
        .map(|pair| match *pair {
            [count, -1] => Ok(VelocityResult {
                count: saturated(count, reply)?,
                retry_after_ms: None,
            }),
            [count, retry] => Ok(VelocityResult {
                count: saturated(count, reply)?,
                retry_after_ms: Some(number(retry, reply)?),
            }),
            _ => Err(protocol("an odd pair", reply)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (place_allowed, holders) = match place {
        [-1] => (true, None),
        [flag @ (0 | 1), holders @ ..] if holders.len() == subjects => (
            *flag == 1,
            Some(
                holders
                    .iter()
                    .map(|n| number(*n, reply))
                    .collect::<Result<Vec<u32>, _>>()?,
            ),
        ),
        _ => return Err(protocol("a bad place part", reply)),
    };
    Ok(GuardCounts {
        velocity,
        holders,
        place_allowed,
    })
}

#[async_trait]
impl GuardStore for RedisGuardStore {
    async fn check(&self, room: &str, check: &GuardCheck) -> Result<GuardCounts, GuardStoreError> {
        let reply = self.eval(&self.check, || script_input(room, check)).await?;
        let subjects = check.places.as_ref().map_or(0, |p| p.subjects.len());
        counts(&reply, check.velocity.len(), subjects)
    }

    async fn check_and_join(
        &self,
        room: &str,
        check: &GuardCheck,
        shadow_of: Option<VisitorId>,
        join: Option<VisitorId>,
    ) -> Result<CheckedJoin, GuardStoreError> {
        let reply = self
            .eval(&self.check_and_join, || {
                check_and_join_input(room, check, shadow_of, join)
            })
            .await?;
        let subjects = check.places.as_ref().map_or(0, |p| p.subjects.len());
        checked_join(
            room,
            &reply,
            check.velocity.len(),
            subjects,
            check.places.is_some(),
        )
    }

    async fn redeem(
        &self,
        room: &str,
        challenge_id: &str,
        ttl_ms: u64,
    ) -> Result<bool, GuardStoreError> {
        let ttl = i64::try_from(span_ms(ttl_ms)).unwrap_or(i64::MAX);
        // SET NX: one atomic command decides, so exactly one of concurrent replays wins.
        let set: Value = self
            .pool
            .set(
                keys::redeemed(room, challenge_id),
                "1",
                Some(Expiration::PX(ttl)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(guard_error)?;
        Ok(!set.is_null())
    }

    async fn set_shadow(
        &self,
        room: &str,
        visitor: VisitorId,
        until_ms: Option<u64>,
    ) -> Result<(), GuardStoreError> {
        let key = keys::shadow(room, visitor);
        match until_ms.filter(|until| *until > 0) {
            // A PXAT already past deletes the key: the shadow is lifted by the same command.
            Some(until) => {
                let at = i64::try_from(until.min(MAX_UNTIL_MS)).unwrap_or(i64::MAX);
                self.pool
                    .set::<Value, _, _>(key, "1", Some(Expiration::PXAT(at)), None, false)
                    .await
            }
            None => self.pool.del::<Value, _>(key).await,
        }
        .map(drop)
        .map_err(guard_error)
    }

    async fn is_shadowed(&self, room: &str, visitor: VisitorId) -> Result<bool, GuardStoreError> {
        let found: i64 = self
            .pool
            .exists(keys::shadow(room, visitor))
            .await
            .map_err(guard_error)?;
        Ok(found == 1)
    }

    async fn rules(&self, room: &str) -> Result<Option<String>, GuardStoreError> {
        self.pool.get(keys::rules(room)).await.map_err(guard_error)
    }

    async fn set_rules(&self, room: &str, rules_json: &str) -> Result<(), GuardStoreError> {
        self.pool
            .set::<Value, _, _>(keys::rules(room), rules_json, None, None, false)
            .await
            .map(drop)
            .map_err(guard_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PlaceCheck, PlaceSubject, VelocityCheck};

    /// A layout argument: the numbers as little-endian f64s.
    fn layout(numbers: &[u32]) -> Value {
        let bytes: Vec<u8> = numbers
            .iter()
            .flat_map(|n| f64::from(*n).to_le_bytes())
            .collect();
        Value::Bytes(bytes.into())
    }

    #[test]
    fn the_script_input_declares_every_key_under_the_room_tag() {
        let check = GuardCheck {
            velocity: vec![
                VelocityCheck {
                    subject: "ip:1".into(),
                    limit: 5,
                    window_ms: 0,
                },
                VelocityCheck {
                    subject: "fp:2".into(),
                    limit: 7,
                    window_ms: 60_000,
                },
            ],
            places: Some(PlaceCheck {
                visitor: VisitorId([1; 16]),
                subjects: vec![PlaceSubject::new("ip:1", 3)],
                hold_ms: 120_000,
            }),
        };
        let (keys, args) = script_input("r", &check);
        assert_eq!(
            keys,
            ["bg:{r}:v:1:ip:1", "bg:{r}:v:60000:fp:2", "bg:{r}:p:ip:1"]
        );
        let visitor = VisitorId([1; 16]).to_hex();
        // 2 counters (limit and window each; window 0 counts as 1 ms), then the hold and the
        // place subject's maximum.
        assert_eq!(
            args,
            [
                layout(&[2, 5, 1, 7, 60000, 120000, 3]),
                visitor.as_str().into()
            ]
        );
    }

    #[test]
    fn the_check_and_join_input_puts_the_queue_keys_first_then_the_shadow_key() {
        let check = GuardCheck {
            velocity: vec![VelocityCheck {
                subject: "ip:1".into(),
                limit: 5,
                window_ms: 10,
            }],
            places: None,
        };
        let visitor = VisitorId([2; 16]);
        let (keys, args) = check_and_join_input("r", &check, Some(visitor), Some(visitor));
        assert_eq!(keys.len(), 14);
        assert_eq!(keys[..12], RoomKeys::new("r").to_vec()[..]);
        assert_eq!(keys[12], keys::shadow("r", visitor));
        assert_eq!(keys[13], "bg:{r}:v:10:ip:1");
        assert!(keys.iter().all(|key| key.contains("{r}:")), "one hash slot");
        assert_eq!(
            args,
            [
                visitor.to_hex().as_str().into(),
                "1".into(),
                layout(&[1, 5, 10])
            ]
        );
        let (keys, args) = check_and_join_input("r", &check, None, None);
        assert_eq!(keys, ["bg:{r}:v:10:ip:1"]);
        assert_eq!(args, ["".into(), "0".into(), layout(&[1, 5, 10])]);
    }

    #[test]
    fn check_and_join_replies_decode_or_fail_as_protocol_errors() {
        // Shadowed, not joined; one counter; places under one subject.
        let checked = checked_join("r", &[1, 0, 3, -1, 1, 2], 1, 1, true).unwrap();
        assert!(checked.shadowed && checked.joined.is_none());
        assert_eq!(checked.counts.holders, Some(vec![2]));
        // Joined: the join's reply follows the check's.
        let checked = checked_join("r", &[0, 1, 1, -1, -1, 1, 4, 4, 17, 1], 1, 0, false).unwrap();
        let joined = checked.joined.unwrap().unwrap();
        assert!(joined.new_place);
        assert_eq!(
            joined.placement,
            anteroom_queue::Placement::Waiting {
                position: 4,
                waiting: 4,
                ticket: 17
            }
        );
        // The room is not initialised: the queue's own error.
        let checked = checked_join("r", &[0, 2, 1, -1, -1], 1, 0, false).unwrap();
        assert!(matches!(
            checked.joined,
            Some(Err(StoreError::Invalid(text))) if text.contains("unknown room `r`")
        ));
        for bad in [
            &[0][..],
            &[0, 0, 1, -1],
            &[0, 0, 1, -1, -1, 5],
            &[0, 2, 1, -1, -1, 5],
            &[2, 0, 1, -1, -1],
            &[0, 7, 1, -1, -1],
        ] {
            assert!(
                matches!(
                    checked_join("r", bad, 1, 0, false),
                    Err(GuardStoreError::Protocol(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_script_shares_the_rust_constants() {
        let debt = crate::store::gcra::MAX_DEBT_LIMITS;
        assert!(CHECK_LUA.contains(&format!("local MAX_DEBT_LIMITS = {debt}\n")));
    }

    #[test]
    fn replies_decode_or_fail_as_protocol_errors() {
        let counts_ok = counts(&[3, -1, 6, 200, 1, 2, 4], 2, 2).unwrap();
        assert_eq!(counts_ok.velocity[0].retry_after_ms, None);
        assert_eq!(counts_ok.velocity[1].retry_after_ms, Some(200));
        assert_eq!(counts_ok.holders, Some(vec![2, 4]));
        assert!(counts_ok.place_allowed);
        let saturated = counts(&[1 << 40, 5, -1], 1, 0).unwrap();
        assert_eq!(saturated.velocity[0].count, u32::MAX);
        let no_place = counts(&[-1], 0, 0).unwrap();
        assert_eq!(no_place.holders, None);
        assert!(no_place.place_allowed);
        for bad in [&[3, -1][..], &[3], &[1, 2], &[-5, -1, -1], &[2, 1, 1]] {
            assert!(
                matches!(counts(bad, 1, 1), Err(GuardStoreError::Protocol(_))),
                "{bad:?}"
            );
        }
    }
}
