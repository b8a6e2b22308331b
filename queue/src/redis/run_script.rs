//! Running a Lua script by its SHA-1, shared by every Redis store (queue, guard, holds).

use fred::error::Error;
use fred::interfaces::LuaInterface;
use fred::prelude::Client;
use fred::types::scripts::Script;
use fred::types::{FromValue, MultipleKeys, MultipleValues};

/// `EVALSHA` of `script` with what `input` makes; a Redis that lost its script cache
/// (restarted, failed over, `SCRIPT FLUSH`) answers `NOSCRIPT`: the script is loaded and run
/// once more with what `input` makes again. fred's `evalsha_with_reload` clones the keys and
/// arguments up front for that retry, which costs every call a copy of each; here only the
/// rare retry pays.
pub async fn run_script<R, K, V>(
    script: &Script,
    client: &Client,
    input: impl Fn() -> (K, V),
) -> Result<R, Error>
where
    R: FromValue,
    K: Into<MultipleKeys> + Send,
    V: TryInto<MultipleValues> + Send,
    V::Error: Into<Error> + Send,
{
    let (keys, args) = input();
    match client.evalsha(script.sha1().clone(), keys, args).await {
        Err(error) if error.details().starts_with("NOSCRIPT") => {
            script.load(client).await?;
            let (keys, args) = input();
            client.evalsha(script.sha1().clone(), keys, args).await
        }
        result => result,
    }
}
