//! The names line up: `functions/<name>` ↔ `routes::functions()` ↔
//! `<Name>Function` in `infra/template.yaml` ↔ `events/<name>.json`, and the
//! template's table is `app::table::SCHEMA`. Each test fails as soon as one
//! side changes without the other.

use std::collections::BTreeSet;

use app::table::SCHEMA;
use http_api::routes::{ROUTES, functions, logical_id};
use serde_norway::{Mapping, Value};

use crate::repo_root;

const TEMPLATE: &str = "infra/template.yaml";

fn template() -> Value {
    let path = repo_root().join(TEMPLATE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{TEMPLATE}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{TEMPLATE} is not YAML: {e}"))
}

fn resources(template: &Value) -> &Mapping {
    template["Resources"]
        .as_mapping()
        .expect("the template has Resources")
}

/// The logical ids of the resources of one type.
fn of_type<'a>(template: &'a Value, ty: &str) -> Vec<&'a str> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .filter_map(|(id, _)| id.as_str())
        .collect()
}

/// The one resource of a type, by logical id.
fn the_one<'a>(template: &'a Value, ty: &str) -> &'a str {
    match of_type(template, ty).as_slice() {
        [id] => id,
        ids => panic!("{TEMPLATE} must have exactly one {ty}, has {ids:?}"),
    }
}

/// What a `!Ref X` (or `{Ref: X}`) names.
fn ref_target(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// What a `!GetAtt X.Arn` (or `{Fn::GetAtt: [X, Arn]}`) names: `X.Arn`.
fn get_att(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str().map(str::to_owned),
        Value::Mapping(m) => match m.get("Fn::GetAtt")?.as_sequence()?.as_slice() {
            [r, a] => Some(format!("{}.{}", r.as_str()?, a.as_str()?)),
            _ => None,
        },
        _ => None,
    }
}

/// The string of a `!Sub "..."` (or `{Fn::Sub: "..."}`).
fn sub(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        Value::Mapping(m) => m.get("Fn::Sub").and_then(Value::as_str),
        _ => None,
    }
}

/// A list that YAML may also give as a single item.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn function_packages() -> BTreeSet<String> {
    let dir = repo_root().join("functions");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// The `name = "..."` of a manifest's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name").map(str::trim_start) {
                if let Some(value) = value.strip_prefix('=') {
                    return Some(value.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    None
}

#[test]
fn function_packages_are_exactly_the_routed_functions() {
    let packages = function_packages();
    let routed: BTreeSet<String> = functions().into_iter().map(str::to_owned).collect();
    let unrouted: Vec<_> = packages.difference(&routed).collect();
    let missing: Vec<_> = routed.difference(&packages).collect();
    assert!(
        unrouted.is_empty() && missing.is_empty(),
        "functions/*/Cargo.toml and shared/http/src/routes.rs disagree.\n\
         packages no route names: {unrouted:?}\nrouted functions with no package: {missing:?}"
    );
    for name in &packages {
        let path = repo_root().join("functions").join(name).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path).expect("the manifest is readable");
        assert_eq!(
            package_name(&manifest).as_deref(),
            Some(name.as_str()),
            "{}: the package is named after its directory",
            path.display()
        );
    }
}

#[test]
fn every_function_has_its_sample_event() {
    let missing: Vec<_> = functions()
        .into_iter()
        .map(|f| format!("events/{f}.json"))
        .filter(|p| !repo_root().join(p).is_file())
        .collect();
    assert!(missing.is_empty(), "missing sample events: {missing:?}");
}

#[test]
fn every_function_has_its_template_resource_built_from_its_package() {
    let template = template();
    let resources = resources(&template);
    for function in functions() {
        let id = logical_id(function);
        let r = resources
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{TEMPLATE} has no {id} for functions/{function}"));
        assert_eq!(
            r["Type"].as_str(),
            Some("AWS::Serverless::Function"),
            "{id}"
        );
        assert_eq!(
            r["Properties"]["CodeUri"].as_str(),
            Some(format!("../functions/{function}").as_str()),
            "{id}: CodeUri"
        );
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}: Metadata.BuildMethod"
        );
        assert_eq!(
            r["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(function),
            "{id}: Metadata.BuildProperties.Binary"
        );
    }
}

/// (logical id, method, path, reachable without a token)
type ApiEvent = (String, String, String, bool);

#[test]
fn template_http_api_events_are_exactly_the_route_table() {
    let template = template();
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let mut events = BTreeSet::new();
    for (id, r) in resources(&template) {
        let id = id.as_str().expect("logical ids are strings");
        let Some(map) = r["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in map {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &event["Properties"];
            let where_ = format!("{id}.Events.{}", name.as_str().unwrap_or("?"));
            assert_eq!(ref_target(&p["ApiId"]), Some(api), "{where_}: ApiId");
            let method = p["Method"].as_str().expect("Method").to_ascii_uppercase();
            let path = p["Path"].as_str().expect("Path").to_owned();
            let public = match p["Auth"]["Authorizer"].as_str() {
                None => false,
                Some("NONE") => true,
                Some(other) => panic!(
                    "{where_}: authorizer {other}: a route keeps the default or is NONE (public)"
                ),
            };
            assert!(
                events.insert((id.to_owned(), method, path, public)),
                "{where_}: a route served twice"
            );
        }
    }
    let routes: BTreeSet<ApiEvent> = ROUTES
        .iter()
        .map(|r| {
            (
                logical_id(r.function),
                r.method.to_owned(),
                r.path.to_owned(),
                r.public,
            )
        })
        .collect();
    let missing: Vec<_> = routes.difference(&events).collect();
    let extra: Vec<_> = events.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{TEMPLATE}'s HttpApi events differ from shared/http/src/routes.rs \
         (logical id, method, path, public).\n\
         missing from the template: {missing:#?}\nnot in ROUTES: {extra:#?}"
    );
}

#[test]
fn http_api_requires_a_jwt_from_the_authorization_header_by_default() {
    let template = template();
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let auth = &resources(&template)[api]["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"]
        .as_str()
        .expect("the API has a DefaultAuthorizer");
    let authorizer = &auth["Authorizers"][default];
    assert_eq!(
        authorizer["IdentitySource"].as_str(),
        Some("$request.header.Authorization")
    );
    let jwt = &authorizer["JwtConfiguration"];
    assert_eq!(ref_target(&jwt["issuer"]), Some("JwtIssuer"));
    assert_eq!(ref_target(&jwt["audience"]), Some("JwtAudience"));
}

/// (index name, key schema, projection type)
type Index = (String, Vec<(String, String)>, String);

#[test]
fn template_table_is_the_schema() {
    let template = template();
    let id = the_one(&template, "AWS::DynamoDB::Table");
    let table = &resources(&template)[id];
    let p = &table["Properties"];

    let keys = |v: &Value| -> Vec<(String, String)> {
        one_or_many(v)
            .into_iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                    k["KeyType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let hash_range = |pk: &str, sk: &str| {
        vec![
            (pk.to_owned(), "HASH".to_owned()),
            (sk.to_owned(), "RANGE".to_owned()),
        ]
    };

    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        keys(&p["KeySchema"]),
        hash_range(SCHEMA.partition_key, SCHEMA.sort_key),
        "{id}: KeySchema"
    );

    let attributes: BTreeSet<(String, String)> = one_or_many(&p["AttributeDefinitions"])
        .into_iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_owned(),
                a["AttributeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = SCHEMA
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    assert_eq!(attributes, expected, "{id}: AttributeDefinitions");

    let indexes: BTreeSet<Index> = one_or_many(&p["GlobalSecondaryIndexes"])
        .into_iter()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap_or_default().to_owned(),
                keys(&g["KeySchema"]),
                g["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<Index> = SCHEMA
        .indexes
        .iter()
        .map(|g| {
            let projection = if g.project_all { "ALL" } else { "KEYS_ONLY" };
            (
                g.name.to_owned(),
                hash_range(g.partition_key, g.sort_key),
                projection.to_owned(),
            )
        })
        .collect();
    assert_eq!(indexes, expected, "{id}: GlobalSecondaryIndexes");

    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(
        ttl["AttributeName"].as_str(),
        Some(SCHEMA.ttl_attribute),
        "{id}: TTL"
    );
    assert_eq!(ttl["Enabled"].as_bool(), Some(true), "{id}: TTL enabled");

    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(table[policy].as_str(), Some("Retain"), "{id}: {policy}");
    }
    assert_eq!(p["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn functions_get_the_table_name_from_the_template() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(ref_target(&env["TABLE_NAME"]), Some(table));
}

/// The item actions a function that changes state may have, on the table
/// or (Query) on one of its indexes.
const WRITER_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
];

#[test]
fn function_policies_are_least_privilege() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let table_arn = format!("{table}.Arn");
    let index_prefix = format!("${{{table}.Arn}}/index/");
    let resources = resources(&template);
    for function in functions() {
        let id = logical_id(function);
        let policies = one_or_many(&resources[id.as_str()]["Properties"]["Policies"]);
        let read_only = ROUTES
            .iter()
            .filter(|r| r.function == function)
            .all(|r| r.method == "GET");
        if read_only {
            let [policy] = policies.as_slice() else {
                panic!("{id}: a read-only function has the one read policy, has {policies:?}");
            };
            assert_eq!(
                ref_target(&policy["DynamoDBReadPolicy"]["TableName"]),
                Some(table),
                "{id}: DynamoDBReadPolicy on {table}"
            );
            continue;
        }
        assert!(!policies.is_empty(), "{id}: a writer names its statements");
        for policy in policies {
            let statements = policy
                .get("Statement")
                .unwrap_or_else(|| panic!("{id}: only explicit statements, not {policy:?}"));
            for s in one_or_many(statements) {
                assert_eq!(s["Effect"].as_str(), Some("Allow"), "{id}: {s:?}");
                for action in one_or_many(&s["Action"]) {
                    let action = action.as_str().unwrap_or_default();
                    assert!(
                        WRITER_ACTIONS.contains(&action),
                        "{id}: action {action:?} is not one the load/commit path needs"
                    );
                }
                for resource in one_or_many(&s["Resource"]) {
                    let on_table = get_att(resource).as_deref() == Some(table_arn.as_str());
                    let on_index = sub(resource).is_some_and(|s| {
                        s.strip_prefix(index_prefix.as_str())
                            .is_some_and(|name| SCHEMA.index(name).is_some())
                    });
                    assert!(
                        on_table || on_index,
                        "{id}: resource {resource:?} is neither {table} nor one of its indexes"
                    );
                }
            }
        }
    }
}

#[test]
fn package_name_reads_the_package_table_only() {
    let manifest = "[workspace]\nname = \"x\"\n\n[package]\nname = \"confirm-order\"\n\
                    version = \"0.1.0\"\n[dependencies]\nname = \"y\"\n";
    assert_eq!(package_name(manifest).as_deref(), Some("confirm-order"));
    assert_eq!(package_name("[dependencies]\nname = \"y\"\n"), None);
}

#[test]
fn intrinsics_are_read_in_short_and_long_form() {
    let v: Value = serde_norway::from_str(
        "a: !Ref T\nb: {Ref: T}\nc: !GetAtt T.Arn\nd: {'Fn::GetAtt': [T, Arn]}\n\
         e: !Sub '${T.Arn}/index/*'\n",
    )
    .expect("yaml");
    assert_eq!(ref_target(&v["a"]), Some("T"));
    assert_eq!(ref_target(&v["b"]), Some("T"));
    assert_eq!(get_att(&v["c"]).as_deref(), Some("T.Arn"));
    assert_eq!(get_att(&v["d"]).as_deref(), Some("T.Arn"));
    assert_eq!(sub(&v["e"]), Some("${T.Arn}/index/*"));
}
