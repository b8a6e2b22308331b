//! `RedisHolds`: seat holds in Redis, shared by every booking instance. Each operation is
//! one Lua script (one round trip, atomic); time comes from Redis `TIME`.

mod scripts;

use async_trait::async_trait;
use fred::prelude::{KeysInterface, Pool};
use fred::types::scripts::Script;
use fred::types::{FromValue, Value};

use anteroom_admission::VisitorId;
use anteroom_queue::{connect_pool, run_script, RedisOptions, StoreError};

use super::{check_capacity, validate_event, validate_seats, HoldError, HoldStore};
use crate::{new_id, Hold};

pub struct RedisHolds {
    pool: Pool,
    scripts: scripts::Scripts,
}

impl RedisHolds {
    /// Connect (with the same reconnect policy and timeouts as the queue store) and load
    /// the scripts.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisHolds, HoldError> {
        let pool = connect_pool(url, &options).await.map_err(store_error)?;
        let holds = RedisHolds {
            pool,
            scripts: scripts::Scripts::new(),
        };
        for script in holds.scripts.all() {
            script
                .load(holds.pool.next())
                .await
                .map_err(|e| HoldError::Unavailable(format!("load hold scripts: {e}")))?;
        }
        Ok(holds)
    }

    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        event: &str,
        scope: Scope<'_>,
        args: Vec<String>,
    ) -> Result<R, HoldError> {
        validate_event(event)?;
        run_script(script, self.pool.next(), || {
            (keys(event, scope), args.clone())
        })
        .await
        .map_err(|e| HoldError::Unavailable(e.to_string()))
    }
}

/// What a script is about beyond the event: which of the per-hold keys it declares.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Event,
    Hold(&'a str),
    HoldOf(&'a str, VisitorId),
}

/// The event's fixed keys, in the order `common.lua` names them.
const EVENT_KEYS: [&str; 8] = [
    "fence", "live", "booked", "ga", "qty", "consumed", "seats", "hseats",
];

/// Every key a script may touch, all under the event's hash tag (one Cluster slot).
fn keys(event: &str, scope: Scope<'_>) -> Vec<String> {
    let prefix = format!("bk:{{{event}}}:");
    let mut keys: Vec<String> = EVENT_KEYS
        .iter()
        .map(|name| format!("{prefix}{name}"))
        .collect();
    match scope {
        Scope::Event => {}
        Scope::Hold(id) => keys.push(format!("{prefix}hold:{id}")),
        Scope::HoldOf(id, holder) => {
            keys.push(format!("{prefix}hold:{id}"));
            keys.push(format!("{prefix}holder:{}", holder.to_hex()));
        }
    }
    keys
}

/// The sentinel [`HoldStore::intact`] looks for (its own key: a plain command, any slot).
const INTACT_KEY: &str = "bk:intact";

fn store_error(error: StoreError) -> HoldError {
    match error {
        StoreError::Invalid(detail) => HoldError::Invalid(detail),
        other => HoldError::Unavailable(other.to_string()),
    }
}

fn text(value: &Value) -> String {
    value.as_string().unwrap_or_default()
}

fn number(value: &Value) -> Result<u64, HoldError> {
    text(value)
        .parse()
        .map_err(|_| HoldError::Unavailable(format!("unexpected reply {value:?}")))
}

/// Read the `{'ok', expires, fence}` / refusal replies of the two hold scripts.
fn granted(reply: Vec<Value>, hold: Hold) -> Result<Hold, HoldError> {
    let kind = reply.first().map(text).unwrap_or_default();
    match (kind.as_str(), reply.as_slice()) {
        ("ok", [_, expires, fence]) => Ok(Hold {
            expires_at_ms: number(expires)?,
            fencing_token: number(fence)?,
            ..hold
        }),
        ("taken", [_, seats @ ..]) => Err(HoldError::SeatTaken(seats.iter().map(text).collect())),
        ("cap", _) => Err(HoldError::TooManySeats {
            limit: reply.get(1).map(number).transpose()?.unwrap_or(0),
        }),
        ("left", _) => Err(HoldError::NotEnoughLeft {
            available: reply.get(1).map(number).transpose()?.unwrap_or(0),
        }),
        ("unknown", _) => Err(HoldError::Invalid(format!(
            "event `{}` has no general-admission capacity",
            hold.event
        ))),
        _ => Err(HoldError::Unavailable(format!(
            "unexpected reply {reply:?}"
        ))),
    }
}

#[async_trait]
impl HoldStore for RedisHolds {
    async fn seed_capacity(&self, event: &str, capacity: u64, sold: u64) -> Result<(), HoldError> {
        check_capacity(capacity, sold)?;
        let recorded: i64 = self
            .eval(
                &self.scripts.init_capacity,
                event,
                Scope::Event,
                vec![capacity.to_string(), sold.to_string()],
            )
            .await?;
        if recorded < 0 {
            return Err(HoldError::Invalid(format!(
                "event `{event}` already has capacity {}",
                -recorded
            )));
        }
        Ok(())
    }

    async fn intact(&self) -> Result<bool, HoldError> {
        let present: i64 = self
            .pool
            .next()
            .exists(INTACT_KEY)
            .await
            .map_err(|e| HoldError::Unavailable(e.to_string()))?;
        Ok(present == 1)
    }

    async fn mark_intact(&self) -> Result<(), HoldError> {
        let _: Value = self
            .pool
            .next()
            .set(INTACT_KEY, "1", None, None, false)
            .await
            .map_err(|e| HoldError::Unavailable(e.to_string()))?;
        Ok(())
    }

    async fn hold_seats(
        &self,
        event: &str,
        seats: &[String],
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError> {
        let seats = validate_seats(seats)?;
        let hold = Hold {
            hold_id: format!("{}.{event}", new_id()),
            event: event.to_string(),
            holder,
            quantity: seats.len() as u64,
            seats,
            expires_at_ms: 0,
            fencing_token: 0,
        };
        let mut args = vec![
            holder.to_hex(),
            ttl_ms.max(1).to_string(),
            max_per_holder.to_string(),
            hold.hold_id.clone(),
        ];
        args.extend(hold.seats.iter().cloned());
        let scope = Scope::HoldOf(&hold.hold_id, holder);
        let reply: Vec<Value> = self
            .eval(&self.scripts.hold_seats, event, scope, args)
            .await?;
        granted(reply, hold)
    }

    async fn hold_quantity(
        &self,
        event: &str,
        quantity: u64,
        holder: VisitorId,
        ttl_ms: u64,
        max_per_holder: u64,
    ) -> Result<Hold, HoldError> {
        if quantity == 0 {
            return Err(HoldError::Invalid("quantity must be at least 1".into()));
        }
        let hold = Hold {
            hold_id: format!("{}.{event}", new_id()),
            event: event.to_string(),
            holder,
            seats: Vec::new(),
            quantity,
            expires_at_ms: 0,
            fencing_token: 0,
        };
        let args = vec![
            holder.to_hex(),
            ttl_ms.max(1).to_string(),
            max_per_holder.to_string(),
            hold.hold_id.clone(),
            quantity.to_string(),
        ];
        let scope = Scope::HoldOf(&hold.hold_id, holder);
        let reply: Vec<Value> = self
            .eval(&self.scripts.hold_quantity, event, scope, args)
            .await?;
        granted(reply, hold)
    }

    async fn get(&self, event: &str, hold_id: &str) -> Result<Option<Hold>, HoldError> {
        let reply: Vec<Value> = self
            .eval(&self.scripts.get, event, Scope::Hold(hold_id), vec![])
            .await?;
        let [holder, seats_csv, quantity, expires, fence] = reply.as_slice() else {
            return Ok(None);
        };
        let Some(holder) = VisitorId::from_hex(&text(holder)) else {
            return Ok(None);
        };
        let seats_csv = text(seats_csv);
        Ok(Some(Hold {
            hold_id: hold_id.to_string(),
            event: event.to_string(),
            holder,
            seats: seats_csv
                .split(',')
                .filter(|seat| !seat.is_empty())
                .map(str::to_string)
                .collect(),
            quantity: number(quantity)?,
            expires_at_ms: number(expires)?,
            fencing_token: number(fence)?,
        }))
    }

    async fn release(
        &self,
        event: &str,
        hold_id: &str,
        holder: VisitorId,
    ) -> Result<bool, HoldError> {
        let released: i64 = self
            .eval(
                &self.scripts.release,
                event,
                Scope::HoldOf(hold_id, holder),
                vec![hold_id.to_string(), holder.to_hex()],
            )
            .await?;
        Ok(released == 1)
    }

    async fn consume(&self, hold: &Hold) -> Result<(), HoldError> {
        let mut args = vec![hold.hold_id.clone(), hold.quantity.to_string()];
        args.extend(hold.seats.iter().cloned());
        let scope = Scope::HoldOf(&hold.hold_id, hold.holder);
        let _: i64 = self
            .eval(&self.scripts.consume, &hold.event, scope, args)
            .await?;
        Ok(())
    }

    async fn mark_booked(&self, event: &str, seats: &[String]) -> Result<(), HoldError> {
        if seats.is_empty() {
            return Ok(());
        }
        let seats = validate_seats(seats)?;
        let _: i64 = self
            .eval(&self.scripts.mark_booked, event, Scope::Event, seats)
            .await?;
        Ok(())
    }

    async fn return_to_sale(
        &self,
        event: &str,
        seats: &[String],
        quantity: u64,
    ) -> Result<(), HoldError> {
        let mut args = vec![quantity.to_string()];
        if !seats.is_empty() {
            args.extend(validate_seats(seats)?);
        }
        let _: i64 = self
            .eval(&self.scripts.return_to_sale, event, Scope::Event, args)
            .await?;
        Ok(())
    }

    async fn held_seats(&self, event: &str) -> Result<Vec<String>, HoldError> {
        let mut seats: Vec<String> = self
            .eval(&self.scripts.held_seats, event, Scope::Event, vec![])
            .await?;
        seats.sort();
        Ok(seats)
    }

    async fn available(&self, event: &str) -> Result<u64, HoldError> {
        let available: i64 = self
            .eval(&self.scripts.available, event, Scope::Event, vec![])
            .await?;
        u64::try_from(available).map_err(|_| {
            HoldError::Invalid(format!("event `{event}` has no general-admission capacity"))
        })
    }
}
