//! Who is acting: a signed-in caller (by JWT `sub` and groups), a payment
//! provider, or the scheduler; and what position a caller holds on an order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// A group a signed-in user belongs to (`cognito:groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Supplier,
    Arbiter,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Buyer, Role::Supplier, Role::Arbiter];

    pub fn parse(group: &str) -> Option<Role> {
        match group {
            "buyer" => Some(Role::Buyer),
            "supplier" => Some(Role::Supplier),
            "arbiter" => Some(Role::Arbiter),
            _ => None,
        }
    }
}

/// A signed-in user: their id and the groups they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: UserId,
    roles: [bool; 3],
}

impl Caller {
    pub fn new(id: UserId, roles: impl IntoIterator<Item = Role>) -> Self {
        let mut set = [false; 3];
        for r in roles {
            set[r as usize] = true;
        }
        Caller { id, roles: set }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles[role as usize]
    }
}

/// A side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Buyer,
    Supplier,
}

impl Party {
    pub fn other(self) -> Party {
        match self {
            Party::Buyer => Party::Supplier,
            Party::Supplier => Party::Buyer,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Buyer => "buyer",
            Party::Supplier => "supplier",
        })
    }
}

/// A payment provider, one per family of payment methods; the name is the
/// webhook path segment (`/v1/webhooks/{provider}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Echeck,
    Card,
    Bank,
    Paylater,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Echeck,
        Provider::Card,
        Provider::Bank,
        Provider::Paylater,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Echeck => "echeck",
            Provider::Card => "card",
            Provider::Bank => "bank",
            Provider::Paylater => "paylater",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change, as recorded in history and events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Buyer(UserId),
    Supplier(UserId),
    Arbiter(UserId),
    Provider(Provider),
    Scheduler,
}

impl Actor {
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::Buyer(_) => ActorKind::Buyer,
            Actor::Supplier(_) => ActorKind::Supplier,
            Actor::Arbiter(_) => ActorKind::Arbiter,
            Actor::Provider(_) => ActorKind::Provider,
            Actor::Scheduler => ActorKind::Scheduler,
        }
    }
}

/// The kinds of actor the transition table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Buyer,
    Supplier,
    Arbiter,
    Provider,
    Scheduler,
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActorKind::Buyer => "buyer",
            ActorKind::Supplier => "supplier",
            ActorKind::Arbiter => "arbiter",
            ActorKind::Provider => "provider",
            ActorKind::Scheduler => "scheduler",
        })
    }
}
