//! The value parsers behind [`BrokerConfig::from_pairs`](super::BrokerConfig::from_pairs):
//! integers with bounds, shares, booleans, roles, addresses and the controller voter list. Each
//! names the key in its error, so a typo never silently becomes a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{ConfigError, Roles, invalid};

pub(super) fn int(
    raw: &BTreeMap<String, String>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let v = raw.get(key).map(String::as_str).unwrap_or("");
    let n: i64 = v
        .parse()
        .map_err(|_| invalid(key, format!("'{v}' is not an integer")))?;
    if n < min || n > max {
        return Err(invalid(key, format!("{n} is outside [{min}, {max}]")));
    }
    Ok(n)
}

/// A share between 0.0 and 1.0.
pub(super) fn share(raw: &BTreeMap<String, String>, key: &str) -> Result<f32, ConfigError> {
    let v = raw.get(key).map(String::as_str).unwrap_or("");
    match v.parse::<f32>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Ok(x) => Err(invalid(key, format!("{x} is outside [0.0, 1.0]"))),
        Err(_) => Err(invalid(key, format!("'{v}' is not a number"))),
    }
}

pub(super) fn boolean(raw: &BTreeMap<String, String>, key: &str) -> Result<bool, ConfigError> {
    parse_bool(key, raw.get(key).map(String::as_str).unwrap_or(""))
}

pub(super) fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, format!("'{v}' is not true or false"))),
    }
}

pub(super) fn parse_roles(v: &str) -> Result<Roles, ConfigError> {
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for r in v.split(',').map(str::trim) {
        match r {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            _ => return Err(invalid("process.roles", format!("unknown role '{r}'"))),
        }
    }
    if !roles.broker && !roles.controller {
        return Err(invalid("process.roles", "needs broker and/or controller"));
    }
    Ok(roles)
}

/// Kafka's rules for `controller.quorum.voters`, checked at startup (INVALID_CONFIG naming the
/// key and the problem): a controller needs a non-empty list that contains it (an absent key
/// means "this node alone"); a node may not be listed twice, nor an address.
pub(super) fn check_voters(
    voters: &[(i32, String)],
    given: bool,
    node_id: i32,
    roles: Roles,
) -> Result<(), ConfigError> {
    const KEY: &str = "controller.quorum.voters";
    if voters.is_empty() {
        if roles.controller && given {
            return Err(invalid(
                KEY,
                "is empty, but process.roles has controller: list the voters as ID@HOST:PORT,…",
            ));
        }
        if !roles.controller {
            return Err(invalid(
                KEY,
                "is required when process.roles is broker only: the broker must know its controllers",
            ));
        }
        return Ok(());
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut addrs = std::collections::BTreeSet::new();
    for (id, addr) in voters {
        if !ids.insert(*id) {
            return Err(invalid(KEY, format!("lists node {id} twice")));
        }
        if !addrs.insert(addr.as_str()) {
            return Err(invalid(KEY, format!("lists address {addr} twice")));
        }
    }
    if roles.controller && !ids.contains(&node_id) {
        return Err(invalid(
            KEY,
            format!(
                "does not contain this node (node.id={node_id}), but process.roles has controller"
            ),
        ));
    }
    Ok(())
}

pub(super) fn parse_voters(v: &str) -> Result<Vec<(i32, String)>, ConfigError> {
    if v.trim().is_empty() {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|voter| {
            let (id, addr) = voter.trim().split_once('@').ok_or_else(|| {
                invalid(
                    "controller.quorum.voters",
                    format!("'{voter}' is not ID@HOST:PORT"),
                )
            })?;
            let id = id
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|i| *i >= 0)
                .ok_or_else(|| {
                    invalid(
                        "controller.quorum.voters",
                        format!("'{id}' is not a node id"),
                    )
                })?;
            let addr = addr.trim();
            let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && !host.contains(char::is_whitespace)
                    && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(invalid(
                    "controller.quorum.voters",
                    format!("'{addr}' (node {id}) is not HOST:PORT"),
                ));
            }
            Ok((id, addr.to_string()))
        })
        .collect()
}

/// An optional listener address: empty is `None`; otherwise `HOST:PORT` (an IP address),
/// optionally prefixed with `PLAINTEXT://` when `plaintext` allows it. One address only: another
/// scheme or a list is an error naming the key.
pub(super) fn optional_addr(
    key: &str,
    value: &str,
    plaintext: bool,
) -> Result<Option<SocketAddr>, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let plain = match value.strip_prefix("PLAINTEXT://") {
        Some(rest) if plaintext => rest,
        _ => value,
    };
    if plain.contains("://") || plain.contains(',') {
        let want = if plaintext {
            "one PLAINTEXT://HOST:PORT"
        } else {
            "one HOST:PORT"
        };
        return Err(invalid(
            key,
            format!("'{value}': only {want} listener is supported"),
        ));
    }
    plain.parse().map(Some).map_err(|_| {
        invalid(
            key,
            format!("'{value}' is not HOST:PORT (an IP address), or empty for none"),
        )
    })
}
