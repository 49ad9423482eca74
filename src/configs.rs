//! `brook configs`, Kafka's `kafka-configs.sh`: `--alter` adds (`--add-config k=v,k2=v2`) and
//! removes (`--delete-config k,k2`) dynamic config overrides, `--describe` lists them. Entities:
//! `--entity-type topics --entity-name T`, or `--entity-type brokers --entity-default` for the
//! cluster-wide dynamic broker defaults (sent as a broker resource; whether it is accepted is the
//! broker's call). This module owns the argument checks, Kafka's `k=v` list syntax (with `[a,b]`
//! brackets for list values) and the tool's output wording; the Admin client does the rest.

use brook_client::AdminConfig;
use brook_client::admin::Admin;
use brook_proto::v1::ConfigResourceType;

#[derive(clap::Args)]
pub struct ConfigsArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// `topics` or `brokers`.
    #[arg(long)]
    entity_type: String,
    /// The topic name (`--entity-type topics`).
    #[arg(long)]
    entity_name: Option<String>,
    /// The cluster-wide default (`--entity-type brokers`).
    #[arg(long, conflicts_with = "entity_name")]
    entity_default: bool,
    /// Change configs (with `--add-config` and/or `--delete-config`).
    #[arg(
        long,
        conflicts_with = "describe",
        required_unless_present = "describe"
    )]
    alter: bool,
    /// List a topic's dynamic configs (not yet the broker defaults).
    #[arg(long)]
    describe: bool,
    /// Overrides to set: `k=v,k2=v2` (a list value in brackets: `k=[a,b]`).
    #[arg(long, value_name = "K=V[,K2=V2]", conflicts_with = "describe")]
    add_config: Vec<String>,
    /// Overrides to remove (back to the default): `k,k2`.
    #[arg(long, value_name = "K[,K2]", conflicts_with = "describe")]
    delete_config: Vec<String>,
}

/// Input the tool refuses before asking a broker, named like the Kafka error a broker would
/// answer it with.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigsError {
    #[error("INVALID_REQUEST: {0}")]
    InvalidRequest(String),
    #[error("INVALID_CONFIG: {0}")]
    InvalidConfig(String),
}

#[derive(Debug, PartialEq, Eq)]
enum Entity {
    Topic(String),
    BrokerDefault,
}

impl Entity {
    fn from_args(args: &ConfigsArgs) -> Result<Entity, ConfigsError> {
        let req = |m: &str| Err(ConfigsError::InvalidRequest(m.to_string()));
        match (args.entity_type.as_str(), &args.entity_name) {
            ("topics", Some(name)) if !name.trim().is_empty() => Ok(Entity::Topic(name.clone())),
            ("topics", _) if args.entity_default => {
                req("--entity-default is for --entity-type brokers; topics need --entity-name")
            }
            ("topics", _) => req("--entity-type topics needs --entity-name TOPIC"),
            ("brokers", None) if args.entity_default => Ok(Entity::BrokerDefault),
            ("brokers", Some(id)) => Err(ConfigsError::InvalidRequest(format!(
                "--entity-name {id}: Brook has no per-broker dynamic configs; use --entity-default \
                 for the cluster-wide broker defaults"
            ))),
            ("brokers", None) => req("--entity-type brokers needs --entity-default"),
            (other, _) => Err(ConfigsError::InvalidRequest(format!(
                "--entity-type {other}: expected topics or brokers"
            ))),
        }
    }

    fn resource(&self) -> (ConfigResourceType, &str) {
        match self {
            Entity::Topic(name) => (ConfigResourceType::ConfigResourceTopic, name),
            Entity::BrokerDefault => (ConfigResourceType::ConfigResourceBroker, ""),
        }
    }
}

pub async fn run(args: ConfigsArgs) -> anyhow::Result<()> {
    let entity = Entity::from_args(&args)?;
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    if args.describe {
        let Entity::Topic(topic) = &entity else {
            return Err(ConfigsError::InvalidRequest(
                "describing the dynamic broker defaults is not supported yet".into(),
            )
            .into());
        };
        let description = admin.describe_topics(&[topic.as_str()]).await?;
        let mut configs: Vec<(String, String)> = description
            .into_iter()
            .flat_map(|t| t.configs.into_iter())
            .collect();
        configs.sort();
        print!("{}", describe_text(topic, &configs));
        return Ok(());
    }
    let mut set = Vec::new();
    for arg in &args.add_config {
        set.extend(parse_add_config(arg)?);
    }
    let mut delete = Vec::new();
    for arg in &args.delete_config {
        delete.extend(parse_delete_config(arg)?);
    }
    if set.is_empty() && delete.is_empty() {
        return Err(ConfigsError::InvalidRequest(
            "--alter needs --add-config and/or --delete-config".into(),
        )
        .into());
    }
    if let Some((k, _)) = set.iter().find(|(k, _)| delete.contains(k)) {
        return Err(ConfigsError::InvalidConfig(format!("{k} is both added and deleted")).into());
    }
    let (resource_type, name) = entity.resource();
    tracing::debug!(?resource_type, name, ?set, ?delete, "altering configs");
    admin
        .alter_config(resource_type, name, &set, &delete)
        .await?;
    match &entity {
        Entity::Topic(t) => println!("Completed updating config for topic {t}."),
        Entity::BrokerDefault => {
            println!("Completed updating default config for brokers in the cluster.")
        }
    }
    Ok(())
}

/// Kafka's `--describe` layout for a topic's dynamic configs (`configs` sorted by key).
pub fn describe_text(topic: &str, configs: &[(String, String)]) -> String {
    let mut out = format!("Dynamic configs for topic {topic} are:\n");
    for (k, v) in configs {
        out.push_str(&format!(
            "  {k}={v} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{k}={v}}}\n"
        ));
    }
    out
}

/// `k=v,k2=[a,b],k3=v3` → pairs; commas inside brackets belong to the value, whose brackets are
/// dropped (Kafka's syntax for list values).
pub fn parse_add_config(arg: &str) -> Result<Vec<(String, String)>, ConfigsError> {
    let bad = |entry: &str| {
        ConfigsError::InvalidConfig(format!(
            "--add-config {arg}: '{entry}' is not KEY=VALUE (all configs to be added must be in \
             the format \"key=val\")"
        ))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in split_top_level(arg)? {
        let (k, v) = entry.split_once('=').ok_or_else(|| bad(entry))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(bad(entry));
        }
        let v = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(v);
        if out.iter().any(|(seen, _)| seen == k) {
            return Err(ConfigsError::InvalidConfig(format!(
                "--add-config {arg}: {k} is given twice"
            )));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `k,k2` → keys (values are not allowed: deleting resets a key to its default).
pub fn parse_delete_config(arg: &str) -> Result<Vec<String>, ConfigsError> {
    arg.split(',')
        .map(str::trim)
        .map(|k| {
            if k.is_empty() || k.contains('=') {
                Err(ConfigsError::InvalidConfig(format!(
                    "--delete-config {arg}: '{k}' is not a config key (give keys only: k1,k2)"
                )))
            } else {
                Ok(k.to_string())
            }
        })
        .collect()
}

/// Splits at commas outside `[...]`; an empty entry or unbalanced brackets are errors.
fn split_top_level(arg: &str) -> Result<Vec<&str>, ConfigsError> {
    let bad = |why: &str| ConfigsError::InvalidConfig(format!("--add-config {arg}: {why}"));
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in arg.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1).ok_or_else(|| bad("unbalanced ']'"))?,
            ',' if depth == 0 => {
                out.push(&arg[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad("unbalanced '['"));
    }
    out.push(&arg[start..]);
    if out.iter().any(|e| e.trim().is_empty()) {
        return Err(bad("empty entry"));
    }
    Ok(out.into_iter().map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn add_config_parses_lists_and_brackets() {
        assert_eq!(
            parse_add_config("unclean.leader.election.enable=true").unwrap(),
            pairs(&[("unclean.leader.election.enable", "true")])
        );
        assert_eq!(
            parse_add_config("a=1, b=[x,y],c=").unwrap(),
            pairs(&[("a", "1"), ("b", "x,y"), ("c", "")])
        );
    }

    #[test]
    fn add_config_refuses_malformed_entries() {
        for bad in [
            "k", "a=1,k", "=v", "a=1,,b=2", "a=[x", "a=x]", "a=1,a=2", "",
        ] {
            let e = parse_add_config(bad).unwrap_err();
            assert!(matches!(e, ConfigsError::InvalidConfig(_)), "{bad}: {e:?}");
            assert!(e.to_string().starts_with("INVALID_CONFIG: --add-config"));
        }
    }

    #[test]
    fn delete_config_takes_keys_only() {
        assert_eq!(parse_delete_config("a, b").unwrap(), vec!["a", "b"]);
        for bad in ["a=1", "a,,b", ""] {
            assert!(parse_delete_config(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn describe_text_is_kafkas_layout() {
        let text = describe_text("t", &pairs(&[("min.insync.replicas", "2")]));
        assert_eq!(
            text,
            "Dynamic configs for topic t are:\n  min.insync.replicas=2 sensitive=false \
             synonyms={DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2}\n"
        );
        assert_eq!(
            describe_text("t", &[]),
            "Dynamic configs for topic t are:\n"
        );
    }
}
