//! The TOML document as serde sees it: every value spanned, unknown keys
//! refused. Turning it into a model is `convert`'s job.

use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub ports: BTreeMap<Spanned<String>, Spanned<RawPort>>,
    #[serde(default)]
    pub sets: BTreeMap<Spanned<String>, Spanned<RawSet>>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
    pub defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    pub chains: BTreeMap<Spanned<String>, Spanned<RawChain>>,
    pub conntrack: Option<Spanned<RawConntrack>>,
}

/// `[conntrack]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConntrack {
    pub zones: Option<Spanned<BTreeMap<Spanned<String>, Spanned<Items>>>>,
    pub max_connections: Option<Spanned<i64>>,
    pub table_full: Option<Spanned<String>>,
    pub tcp_liberal: Option<Spanned<bool>>,
    pub timeouts: Option<Spanned<BTreeMap<Spanned<String>, Spanned<Item>>>>,
}

/// `[ports.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub role: Spanned<String>,
    pub id: Option<Spanned<i64>>,
    pub representor: Option<Spanned<String>>,
    pub netdev: Option<Spanned<String>>,
    pub peer: Option<Spanned<String>>,
}

/// `[sets.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSet {
    pub prefixes: Option<Spanned<Items>>,
    pub ports: Option<Spanned<Items>>,
}

/// `[[rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: Option<Spanned<String>>,
    pub in_port: Option<Spanned<Items>>,
    pub family: Option<Spanned<String>>,
    pub src: Option<Spanned<Items>>,
    pub dst: Option<Spanned<Items>>,
    pub protocol: Option<Spanned<Item>>,
    pub src_port: Option<Spanned<Items>>,
    pub dst_port: Option<Spanned<Items>>,
    pub icmp_type: Option<Spanned<i64>>,
    pub icmp_code: Option<Spanned<i64>>,
    pub tcp_flags: Option<Spanned<Items>>,
    pub vlan: Option<Spanned<i64>>,
    pub state: Option<Spanned<Items>>,
    pub action: Spanned<String>,
    pub chain: Option<Spanned<String>>,
    pub count: Option<Spanned<bool>>,
    pub rate_limit: Option<Spanned<RawRateLimit>>,
}

/// `rate_limit = { pps = N | bps = N, burst = N }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub pps: Option<Spanned<i64>>,
    pub bps: Option<Spanned<i64>>,
    pub burst: Option<Spanned<i64>>,
}

/// `[defaults]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub inbound: Option<Spanned<String>>,
    pub outbound: Option<Spanned<String>>,
}

/// `[chains.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChain {
    pub path: Spanned<Items>,
    pub reverse: Option<Spanned<Items>>,
}

/// A scalar in a list: a string, an integer or a boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Str(String),
    Int(i64),
    Bool(bool),
}

struct ItemVisitor;

impl Visitor<'_> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an integer")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Item, E> {
        Ok(Item::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Item, E> {
        Ok(Item::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
        i64::try_from(v)
            .map(Item::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
        Ok(Item::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Item, E> {
        Ok(Item::Str(v))
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

/// One scalar or an array of scalars; each element keeps its own span
/// (`None` for the single-scalar form: use the value's span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Items {
    pub items: Vec<(Item, Option<Range<usize>>)>,
    pub is_array: bool,
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer, or an array of them")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Items, E> {
        Ok(single(Item::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Items, E> {
        Ok(single(Item::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Items, E> {
        ItemVisitor.visit_u64(v).map(single)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Items, E> {
        Ok(single(Item::Str(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Items, E> {
        Ok(single(Item::Str(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut items = Vec::new();
        while let Some(x) = seq.next_element::<Spanned<Item>>()? {
            let span = x.span();
            items.push((x.into_inner(), Some(span)));
        }
        Ok(Items {
            items,
            is_array: true,
        })
    }
}

fn single(item: Item) -> Items {
    Items {
        items: vec![(item, None)],
        is_array: false,
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor)
    }
}
