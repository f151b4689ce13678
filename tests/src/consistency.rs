//! The names line up: `functions/<name>` ↔ `routes::all_functions()` (the
//! functions of `ROUTES`, then the `TRIGGERED` ones) ↔ `<Name>Function` in
//! `infra/template.yaml` ↔ `events/<name>.json`. The template's HTTP API is
//! the route table, its table is `app::table::SCHEMA`, its payment-events
//! queue joins the webhook function to the triggered consumer (dead-letter
//! queue, alarm, visibility), the table's stream wakes the outbox publisher
//! on new history items only (filter, bounded retries), a rule on the bus
//! sends the payment and refund requests — and nothing the step causes
//! itself — to the queue of the provider-action step (only that rule may
//! send; dead-letter queue, alarm, visibility; the providers' URLs and
//! keys from parameters and a secret), EventBridge
//! Scheduler runs the sweep with the input `entry_points::schedule` parses
//! (bounded retries, dead-letter queue, failed-run queue, alarms, a role
//! that can do nothing else), new orders get their clocks from the
//! template's parameters, and every function gets only the permissions its
//! code uses. Operators are told: every function has its log group and its
//! alarms, every alarm notifies the topic in use and says where its runbook
//! is (`docs/operations.md`), the API logs, throttles and allows CORS as
//! the parameters say, and no secret is in the template or an environment.
//! Each test fails as soon as one side changes without the other.

use std::collections::BTreeSet;

use app::table::{self, SCHEMA};
use domain::Provider;
use entry_points::schedule::{self, ScheduledEvent, TARGET_INPUT};
use http_api::routes::{ROUTES, TRIGGERED, Trigger, all_functions, functions, logical_id};
use http_api::webhook;
use serde_norway::{Mapping, Value};

use crate::{function_packages, repo_root};

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

/// The `name = "..."` of a manifest's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// A resource by logical id; the template must have it.
fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    resources(template)
        .get(id)
        .unwrap_or_else(|| panic!("{TEMPLATE} has no {id}"))
}

/// A number YAML may also give as a string (`maxReceiveCount: "5"`).
/// A whole number in the template (seconds, counts, thresholds), written
/// as a number or a string.
fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A function's Timeout in seconds: its own, else the Globals one, else
/// Lambda's default (3).
fn timeout(template: &Value, id: &str) -> i64 {
    number(&resource(template, id)["Properties"]["Timeout"])
        .or_else(|| number(&template["Globals"]["Function"]["Timeout"]))
        .unwrap_or(3)
}

/// One `Allow` statement of a function's policies: its actions and resources.
struct Statement {
    actions: BTreeSet<String>,
    resources: Vec<Value>,
}

/// Every statement of a function's `Policies`, which must all be explicit
/// `Allow` statements (no SAM policy template, no managed policy).
fn statements(template: &Value, id: &str) -> Vec<Statement> {
    let policies = one_or_many(&resource(template, id)["Properties"]["Policies"]);
    let mut out = Vec::new();
    for policy in policies {
        let statements = policy
            .get("Statement")
            .unwrap_or_else(|| panic!("{id}: only explicit statements, not {policy:?}"));
        for s in one_or_many(statements) {
            assert_eq!(s["Effect"].as_str(), Some("Allow"), "{id}: {s:?}");
            out.push(Statement {
                actions: one_or_many(&s["Action"])
                    .into_iter()
                    .map(|a| a.as_str().unwrap_or_default().to_owned())
                    .collect(),
                resources: one_or_many(&s["Resource"]).into_iter().cloned().collect(),
            });
        }
    }
    out
}

/// The payment-events queue: the queue the webhook function's `QUEUE_URL`
/// names (`!Ref` of an SQS queue is its URL).
fn payment_queue(template: &Value) -> &str {
    let id = logical_id(webhook::FUNCTION);
    let env = &resource(template, &id)["Properties"]["Environment"]["Variables"];
    let queue = ref_target(&env["QUEUE_URL"])
        .unwrap_or_else(|| panic!("{id}: QUEUE_URL must be the !Ref of the payment-events queue"));
    assert_eq!(
        resource(template, queue)["Type"].as_str(),
        Some("AWS::SQS::Queue"),
        "{id}: QUEUE_URL names {queue}, which is not an SQS queue"
    );
    queue
}

/// The payment queue's dead-letter queue: what its redrive policy targets
/// (`!GetAtt <queue>.Arn`), which must be an SQS queue of the template.
fn dead_letter_queue(template: &Value) -> &str {
    let queue = payment_queue(template);
    let target = &resource(template, queue)["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
    let att = get_att(target).unwrap_or_else(|| {
        panic!(
            "{queue}: RedrivePolicy.deadLetterTargetArn is not a !GetAtt <queue>.Arn: {target:?}"
        )
    });
    let name = att
        .strip_suffix(".Arn")
        .unwrap_or_else(|| panic!("{queue}: the dead-letter target {att} is not an Arn"));
    let dlq = resources(template)
        .iter()
        .find_map(|(id, _)| id.as_str().filter(|id| *id == name))
        .unwrap_or_else(|| panic!("{queue}: the dead-letter target {name} is not in {TEMPLATE}"));
    assert_eq!(
        resource(template, dlq)["Type"].as_str(),
        Some("AWS::SQS::Queue"),
        "{queue}: the dead-letter target {dlq} is not an SQS queue"
    );
    dlq
}

/// The one function of `TRIGGERED` with `trigger`.
fn triggered_by(trigger: Trigger) -> &'static str {
    let functions: Vec<&str> = TRIGGERED
        .iter()
        .filter(|t| t.trigger == trigger)
        .map(|t| t.function)
        .collect();
    match functions.as_slice() {
        [one] => one,
        other => {
            panic!("exactly one function is triggered by {trigger:?}, TRIGGERED has {other:?}")
        }
    }
}

/// The one function the payment-events queue triggers.
fn payment_queue_consumer() -> &'static str {
    triggered_by(Trigger::PaymentQueue)
}

/// The one function the table's stream triggers: the outbox publisher.
fn outbox_publisher() -> &'static str {
    triggered_by(Trigger::TableStream)
}

/// `stack_name` of samconfig.toml's default environment.
fn stack_name() -> String {
    let path = repo_root().join("samconfig.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("samconfig.toml: {e}"));
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("stack_name"))
        .and_then(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("samconfig.toml names no stack_name"))
}

fn sample_event(function: &str) -> serde_json::Value {
    let path = repo_root().join("events").join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("sample event {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sample event {}: {e}", path.display()))
}

// ---- functions, packages, resources, sample events ----------------------------

#[test]
fn function_packages_are_exactly_the_routed_and_triggered_functions() {
    let packages = function_packages();
    let all = all_functions();
    let known: BTreeSet<String> = all.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(
        known.len(),
        all.len(),
        "a function is both routed and triggered, or triggered twice: {all:?}"
    );
    let unknown: Vec<_> = packages.difference(&known).collect();
    let missing: Vec<_> = known.difference(&packages).collect();
    assert!(
        unknown.is_empty() && missing.is_empty(),
        "functions/*/Cargo.toml and shared/http-api/src/routes.rs (ROUTES, TRIGGERED) disagree.\n\
         packages neither routed nor triggered: {unknown:?}\nfunctions with no package: {missing:?}"
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
    let missing: Vec<_> = all_functions()
        .into_iter()
        .map(|f| format!("events/{f}.json"))
        .filter(|p| !repo_root().join(p).is_file())
        .collect();
    assert!(missing.is_empty(), "missing sample events: {missing:?}");
}

#[test]
fn template_functions_are_exactly_every_function_each_built_from_its_package() {
    let template = template();
    let declared: BTreeSet<String> = of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> = all_functions().into_iter().map(logical_id).collect();
    let extra: Vec<_> = declared.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&declared).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{TEMPLATE}'s functions differ from routes::all_functions().\n\
         no package: {extra:?}\nmissing from the template: {missing:?}"
    );
    let resources = resources(&template);
    for function in all_functions() {
        let id = logical_id(function);
        let r = &resources[id.as_str()];
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

// ---- the HTTP API ----------------------------------------------------------------

/// (logical id, method, path, reachable without a token)
type ApiEvent = (String, String, String, bool);

/// Every `HttpApi` event of the template is a route of `ROUTES` served by
/// its function and vice versa; a route skips the JWT authorizer
/// (`Auth: {Authorizer: NONE}`) exactly when `ROUTES` marks it public.
#[test]
fn http_api_events_are_exactly_the_route_table_and_only_public_routes_skip_the_authorizer() {
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
        "{TEMPLATE}'s HttpApi events differ from shared/http-api/src/routes.rs \
         (logical id, method, path, public).\n\
         missing from the template: {missing:#?}\nnot in ROUTES: {extra:#?}"
    );
    assert!(
        ROUTES.iter().any(|r| r.public) && ROUTES.iter().any(|r| !r.public),
        "the comparison covers both kinds of route"
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
// ---- the table -------------------------------------------------------------------

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

// ---- provider events: webhook → queue → consumer ----------------------------------

/// The webhook function sends to the queue (`QUEUE_URL`) that triggers the
/// `TRIGGERED` consumer, through one SQS event source that hands it at most
/// 10 records and reads back the records to redeliver
/// (ReportBatchItemFailures). A triggered function has no HTTP route.
#[test]
fn the_triggered_consumer_reads_the_webhook_queue_and_reports_batch_item_failures() {
    let template = template();
    let queue = payment_queue(&template);
    for t in TRIGGERED {
        let id = logical_id(t.function);
        let Some(events) = resource(&template, &id)["Properties"]["Events"].as_mapping() else {
            // The schedule is a resource of its own (AWS::Scheduler::Schedule,
            // which cfn-lint checks in full): the sweep tests below.
            assert_eq!(
                t.trigger,
                Trigger::Schedule,
                "{id}: a triggered function has its trigger as an event"
            );
            continue;
        };
        let [(name, event)] = events.iter().collect::<Vec<_>>()[..] else {
            panic!("{id}: exactly one event, its trigger; has {events:?}");
        };
        let where_ = format!("{id}.Events.{}", name.as_str().unwrap_or("?"));
        match t.trigger {
            Trigger::PaymentQueue => {
                let p = &event["Properties"];
                assert_eq!(event["Type"].as_str(), Some("SQS"), "{where_}: Type");
                assert_eq!(
                    get_att(&p["Queue"]),
                    Some(format!("{queue}.Arn")),
                    "{where_}: the queue the webhook function sends to (its QUEUE_URL)"
                );
                let batch = number(&p["BatchSize"]).unwrap_or(10);
                assert!(
                    (1..=10).contains(&batch),
                    "{where_}: BatchSize {batch}: without a batching window SQS hands at most 10"
                );
                let types: Vec<&str> = one_or_many(&p["FunctionResponseTypes"])
                    .into_iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(
                    types,
                    ["ReportBatchItemFailures"],
                    "{where_}: the consumer answers with the records to redeliver"
                );
            }
            // Its queue, batches, redrive and rule: the tests of the
            // provider-action step below.
            Trigger::ProviderActionsQueue => {
                assert_eq!(event["Type"].as_str(), Some("SQS"), "{where_}: Type");
            }
            // The stream, its filter and its retries: the tests of
            // the outbox publisher below.
            Trigger::TableStream => {
                assert_eq!(event["Type"].as_str(), Some("DynamoDB"), "{where_}: Type");
            }
            Trigger::Schedule => panic!(
                "{where_}: the sweep's schedule is an AWS::Scheduler::Schedule targeting \
                 {id}, not an event of the function"
            ),
        }
    }
    assert_eq!(
        payment_queue_consumer(),
        "process-payment-events",
        "the payment queue's consumer"
    );
}

/// A record is hidden from other consumers while one invocation works on
/// it; Lambda's guidance for an SQS event source is a visibility timeout of
/// at least six times the function's timeout, so that retries of a
/// throttled or slow invocation do not redeliver records still in flight.
#[test]
fn the_payment_queue_visibility_timeout_is_at_least_six_times_the_consumer_timeout() {
    let template = template();
    let queue = payment_queue(&template);
    let consumer = logical_id(payment_queue_consumer());
    let visibility = number(&resource(&template, queue)["Properties"]["VisibilityTimeout"])
        .unwrap_or_else(|| panic!("{queue}: VisibilityTimeout is set (SQS's default is 30 s)"));
    let timeout = timeout(&template, &consumer);
    assert!(
        visibility >= 6 * timeout,
        "{queue}: VisibilityTimeout {visibility} s < 6 × {consumer}'s Timeout {timeout} s"
    );
}

/// A record that keeps failing (a store down, a poison message) is received
/// 5 times, then moved to the dead-letter queue, which keeps it 14 days —
/// longer than the queue keeps messages — and sends nothing further on.
#[test]
fn the_payment_queue_moves_a_message_to_the_dead_letter_queue_after_five_receives() {
    let template = template();
    let queue = payment_queue(&template);
    let dlq = dead_letter_queue(&template);
    assert_ne!(queue, dlq, "{queue} dead-letters to itself");
    let redrive = &resource(&template, queue)["Properties"]["RedrivePolicy"];
    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        Some(5),
        "{queue}: maxReceiveCount"
    );
    let retention = |id: &str| {
        // SQS's default retention is 4 days.
        number(&resource(&template, id)["Properties"]["MessageRetentionPeriod"]).unwrap_or(345_600)
    };
    assert_eq!(retention(dlq), 1_209_600, "{dlq}: 14 days");
    assert!(
        retention(dlq) > retention(queue),
        "{dlq} keeps a message longer than {queue}"
    );
    assert!(
        resource(&template, dlq)["Properties"]["RedrivePolicy"].is_null(),
        "{dlq}: the dead-letter queue redrives nowhere"
    );
}

/// Both queues are encrypted at rest with SQS-managed keys (SSE-SQS): a
/// KMS key would need kms: permissions for the webhook function and the
/// consumer, which their least-privilege tests do not allow.
#[test]
fn the_payment_queues_are_encrypted_at_rest_with_sqs_managed_keys() {
    let template = template();
    for id in [payment_queue(&template), dead_letter_queue(&template)] {
        let p = &resource(&template, id)["Properties"];
        assert_eq!(
            p["SqsManagedSseEnabled"].as_bool(),
            Some(true),
            "{id}: SqsManagedSseEnabled"
        );
        assert!(p["KmsMasterKeyId"].is_null(), "{id}: no KMS key");
    }
}

/// An alarm goes off as soon as one message is visible in the dead-letter
/// queue: an event the consumer could not apply needs a person.
#[test]
fn an_alarm_fires_on_the_first_message_in_the_dead_letter_queue() {
    let template = template();
    assert_first_message_alarm(&template, dead_letter_queue(&template));
}

/// The arguments of an intrinsic function, short (`!If [...]`) or long
/// (`{Fn::If: [...]}`; `Ref` and `Condition` have no `Fn::`).
fn intrinsic<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == name => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => m
            .get(format!("Fn::{name}").as_str())
            .or_else(|| m.get(name)),
        _ => None,
    }
}

/// The arguments of an intrinsic that takes a list, as a slice.
fn intrinsic_args<'a>(v: &'a Value, name: &str) -> Option<&'a [Value]> {
    intrinsic(v, name)?.as_sequence().map(Vec::as_slice)
}

/// The parameter naming an existing SNS topic for the alarms; empty: the
/// stack creates its own.
const ALARM_TOPIC_PARAMETER: &str = "AlarmTopicArn";

/// The topic the stack creates for the alarms and the condition it is
/// created under, which must be "no `AlarmTopicArn` given".
fn created_alarm_topic(template: &Value) -> (&str, &str) {
    let topic = the_one(template, "AWS::SNS::Topic");
    let condition = resource(template, topic)["Condition"]
        .as_str()
        .unwrap_or_else(|| {
            panic!("{topic}: created only when no {ALARM_TOPIC_PARAMETER} is given")
        });
    let equals = intrinsic_args(&template["Conditions"][condition], "Equals")
        .unwrap_or_else(|| panic!("condition {condition} is an !Equals"));
    let empty = Value::String(String::new());
    let refs: Vec<Option<&str>> = equals.iter().map(ref_target).collect();
    assert!(
        equals.len() == 2 && refs.contains(&Some(ALARM_TOPIC_PARAMETER)) && equals.contains(&empty),
        "condition {condition} is !Equals [!Ref {ALARM_TOPIC_PARAMETER}, \"\"]: {equals:?}"
    );
    (topic, condition)
}

/// Whether `v` (an alarm's `AlarmActions` or `OKActions`) is the one topic
/// in use: `[!If [<created>, !Ref <the stack's topic>, !Ref AlarmTopicArn]]`.
fn notifies_the_topic_in_use(template: &Value, v: &Value) -> bool {
    let (topic, condition) = created_alarm_topic(template);
    let actions = one_or_many(v);
    let [action] = actions.as_slice() else {
        return false;
    };
    match intrinsic_args(action, "If") {
        Some([c, created, given]) => {
            c.as_str() == Some(condition)
                && ref_target(created) == Some(topic)
                && ref_target(given) == Some(ALARM_TOPIC_PARAMETER)
        }
        _ => false,
    }
}

/// One alarm on `dlq`'s visible messages, firing on the first one, and
/// notifying the topic in use of both changes.
fn assert_first_message_alarm(template: &Value, dlq: &str) {
    let dlq_name = format!("{dlq}.QueueName");
    let alarms: Vec<&str> = of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|id| {
            let p = &resource(template, id)["Properties"];
            p["Namespace"].as_str() == Some("AWS/SQS")
                && p["MetricName"].as_str() == Some("ApproximateNumberOfMessagesVisible")
                && one_or_many(&p["Dimensions"]).into_iter().any(|d| {
                    d["Name"].as_str() == Some("QueueName")
                        && get_att(&d["Value"]).as_deref() == Some(dlq_name.as_str())
                })
        })
        .collect();
    let [alarm] = alarms.as_slice() else {
        panic!("one alarm on {dlq}'s ApproximateNumberOfMessagesVisible, found {alarms:?}");
    };
    let p = &resource(template, alarm)["Properties"];
    let threshold = number(&p["Threshold"]);
    let first_message = match p["ComparisonOperator"].as_str() {
        Some("GreaterThanOrEqualToThreshold") => threshold == Some(1),
        Some("GreaterThanThreshold") => threshold == Some(0),
        _ => false,
    };
    assert!(
        first_message,
        "{alarm}: {:?} {threshold:?} does not fire on one message",
        p["ComparisonOperator"]
    );
    assert_eq!(
        p["Statistic"].as_str(),
        Some("Maximum"),
        "{alarm}: one sample with a message is enough"
    );
    assert_eq!(
        number(&p["EvaluationPeriods"]),
        Some(1),
        "{alarm}: EvaluationPeriods"
    );
    for actions in ["AlarmActions", "OKActions"] {
        assert!(
            notifies_the_topic_in_use(template, &p[actions]),
            "{alarm}: {actions} is [!If [<created>, !Ref <topic>, !Ref {ALARM_TOPIC_PARAMETER}]]"
        );
    }
}

/// The name of the parameter naming the webhook secrets' Secrets Manager
/// secret.
const SECRET_PARAMETER: &str = "WebhookSecretName";

/// The variable that names the webhook secrets' secret to the function.
const SECRET_ID_VARIABLE: &str = "WEBHOOK_SECRET_ID";

/// The one resource the webhook function may read a secret from: the
/// secret the parameter names, as given when it is an ARN, else the ARN of
/// that name with Secrets Manager's six-character suffix (`-??????`; `-*`
/// would also match another secret, `<name>-old`).
fn assert_is_the_webhook_secret(template: &Value, id: &str, resource: &Value) {
    assert_is_the_secret_named_by(template, id, resource, SECRET_PARAMETER);
}

/// The one secret `parameter` names (a name or an ARN), as a policy's
/// resource: [`assert_is_the_webhook_secret`] for any secret parameter.
fn assert_is_the_secret_named_by(template: &Value, id: &str, resource: &Value, parameter: &str) {
    let [condition, arn, named] = intrinsic_args(resource, "If").unwrap_or_else(|| {
        panic!(
            "{id}: the secret's resource is !If [<an ARN>, <it>, <the name's ARN>]: {resource:?}"
        )
    }) else {
        panic!("{id}: !If takes three arguments: {resource:?}");
    };
    assert_eq!(
        ref_target(arn),
        Some(parameter),
        "{id}: an ARN is the resource"
    );
    assert_eq!(
        sub(named),
        Some(
            format!(
                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{{parameter}}}-??????"
            )
            .as_str()
        ),
        "{id}: a name is that secret's ARN"
    );
    // The condition: the parameter's first ':'-separated field is "arn".
    let condition = condition.as_str().expect("a condition's name");
    let equals = intrinsic_args(&template["Conditions"][condition], "Equals")
        .unwrap_or_else(|| panic!("condition {condition} is an !Equals"));
    let [first, literal] = equals else {
        panic!("condition {condition}: !Equals of two values");
    };
    assert_eq!(literal.as_str(), Some("arn"), "condition {condition}");
    let [index, list] = intrinsic_args(first, "Select").expect("!Select [0, !Split ...]") else {
        panic!("condition {condition}: !Select [0, !Split [\":\", !Ref {parameter}]]");
    };
    assert_eq!(number(index), Some(0), "condition {condition}");
    let [separator, source] = intrinsic_args(list, "Split").expect("!Split") else {
        panic!("condition {condition}: !Split [\":\", !Ref {parameter}]");
    };
    assert_eq!(separator.as_str(), Some(":"), "condition {condition}");
    assert_eq!(ref_target(source), Some(parameter), "condition {condition}");
}

/// The webhook secrets stay out of the template and the function's
/// configuration: `WEBHOOK_SECRET_ID` names the secret (the
/// `WebhookSecretName` parameter, whose description names every
/// provider's key of its JSON), which the function reads itself, once per
/// sandbox, so a new value reaches the next sandbox without a redeploy.
/// The function's environment holds the queue URL and that name, nothing
/// else of its own; no dynamic reference is left anywhere.
#[test]
fn the_webhook_secrets_are_read_from_secrets_manager_at_cold_start() {
    let template = template();
    let id = logical_id(webhook::FUNCTION);
    let parameter = &template["Parameters"][SECRET_PARAMETER];
    assert_eq!(
        parameter["Type"].as_str(),
        Some("String"),
        "{TEMPLATE}: parameter {SECRET_PARAMETER}"
    );
    let description = parameter["Description"].as_str().unwrap_or_default();
    for provider in Provider::ALL {
        assert!(
            description.contains(provider.as_str()),
            "parameter {SECRET_PARAMETER}: its description names the key {provider}"
        );
    }
    let env = resource(&template, &id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: Environment.Variables"));
    let names: BTreeSet<&str> = env.keys().filter_map(Value::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["QUEUE_URL", SECRET_ID_VARIABLE]),
        "{id}: Environment.Variables"
    );
    assert_eq!(
        ref_target(&env[SECRET_ID_VARIABLE]),
        Some(SECRET_PARAMETER),
        "{id}: {SECRET_ID_VARIABLE} is the !Ref of {SECRET_PARAMETER}"
    );
    let text = std::fs::read_to_string(repo_root().join(TEMPLATE)).expect("the template");
    assert!(
        !text.contains("{{resolve:"),
        "{TEMPLATE}: a dynamic reference puts its value in the deployed configuration"
    );
    let literal = text.match_indices("whsec_").any(|(at, prefix)| {
        text[at + prefix.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    assert!(!literal, "{TEMPLATE} holds a webhook secret in plain text");
}

/// Every string under `v`, intrinsics' arguments included.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        Value::Mapping(m) => m.values().flat_map(strings).collect(),
        Value::Tagged(t) => strings(&t.value),
        _ => Vec::new(),
    }
}

/// No function's environment holds a secret: no dynamic reference, no
/// webhook secret, no variable named like a secret (a `…_SECRET_ID` names
/// one, it is none).
#[test]
fn no_function_has_a_secret_in_its_environment() {
    let template = template();
    let mut environments = vec![(
        "Globals.Function".to_owned(),
        &template["Globals"]["Function"]["Environment"]["Variables"],
    )];
    for id in of_type(&template, "AWS::Serverless::Function") {
        environments.push((
            id.to_owned(),
            &resource(&template, id)["Properties"]["Environment"]["Variables"],
        ));
    }
    for (owner, env) in environments {
        let Some(env) = env.as_mapping() else {
            continue;
        };
        for (name, value) in env {
            let name = name.as_str().unwrap_or_default();
            let upper = name.to_ascii_uppercase();
            assert!(
                !["SECRET", "PASSWORD", "TOKEN", "PRIVATE"]
                    .iter()
                    .any(|w| upper.contains(w))
                    || upper.ends_with("_SECRET_ID"),
                "{owner}: {name} looks like a secret in the environment"
            );
            for s in strings(value) {
                assert!(
                    !s.contains("{{resolve:") && !s.contains("whsec_"),
                    "{owner}: {name} holds a secret: {s}"
                );
            }
        }
    }
}

/// Only the webhook function and the provider-action step may read a
/// secret, each only its own: one `secretsmanager:GetSecretValue` on the
/// secret `WebhookSecretName`, respectively `ProviderKeysSecretName`,
/// names. No other function, no role, may reach Secrets Manager, SSM
/// parameters or KMS.
#[test]
fn only_the_webhook_and_provider_action_functions_may_read_a_secret_each_only_its_own() {
    let template = template();
    let webhook_id = logical_id(webhook::FUNCTION);
    let step_id = logical_id(provider_action_step());
    let secret_services = ["secretsmanager:", "ssm:", "kms:"];
    let mut reads = BTreeSet::new();
    for id in of_type(&template, "AWS::Serverless::Function") {
        for s in statements(&template, id) {
            let secret: Vec<&String> = s
                .actions
                .iter()
                .filter(|a| secret_services.iter().any(|p| a.starts_with(p)))
                .collect();
            if secret.is_empty() {
                continue;
            }
            let parameter = if id == webhook_id {
                SECRET_PARAMETER
            } else if id == step_id {
                PROVIDER_KEYS_PARAMETER
            } else {
                panic!("{id} may read no secret: {secret:?}")
            };
            assert_eq!(
                s.actions,
                BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]),
                "{id}: only GetSecretValue, in a statement of its own"
            );
            let [resource] = s.resources.as_slice() else {
                panic!(
                    "{id}: GetSecretValue on the one secret, not {:?}",
                    s.resources
                );
            };
            assert_is_the_secret_named_by(&template, id, resource, parameter);
            assert!(reads.insert(id), "{id}: one statement reads its secret");
        }
    }
    assert_eq!(
        reads,
        BTreeSet::from([webhook_id.as_str(), step_id.as_str()]),
        "each reads its secret (one statement)"
    );
    for role in of_type(&template, "AWS::IAM::Role") {
        for (action, _) in role_grants(&template, role) {
            assert!(
                !secret_services.iter().any(|p| action.starts_with(p)),
                "{role}: {action}"
            );
        }
    }
}

/// The consumer's sample event is a batch from the payment queue as the
/// template names it for the stack samconfig.toml deploys.
#[test]
fn the_consumer_sample_event_comes_from_the_payment_queue_of_the_deployed_stack() {
    let template = template();
    let queue = payment_queue(&template);
    let pattern = sub(&resource(&template, queue)["Properties"]["QueueName"])
        .unwrap_or_else(|| panic!("{queue}: QueueName is a !Sub of the stack name"));
    let name = pattern.replace("${AWS::StackName}", &stack_name());
    assert!(!name.contains("${"), "{queue}: QueueName {pattern}");
    let function = payment_queue_consumer();
    let event = sample_event(function);
    let records = event["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("events/{function}.json: no Records"));
    for r in records {
        let arn = r["eventSourceARN"].as_str().unwrap_or_default();
        let region = r["awsRegion"].as_str().unwrap_or_default();
        assert_eq!(r["eventSource"], "aws:sqs", "events/{function}.json");
        assert!(
            arn.starts_with(&format!("arn:aws:sqs:{region}:"))
                && arn.ends_with(&format!(":{name}")),
            "events/{function}.json: eventSourceARN {arn:?} is not the queue {name} in {region}"
        );
    }
}

// ---- provider actions: bus → rule → queue → provider-action step ------------------

/// The parameter naming the providers' API keys' secret.
const PROVIDER_KEYS_PARAMETER: &str = "ProviderKeysSecretName";

/// The variable that names that secret to the provider-action step.
const PROVIDER_KEYS_VARIABLE: &str = "PROVIDER_KEYS_SECRET_ID";

/// The detail-types of the events that ask a provider for something
/// (what `app::provider_actions::act` acts on).
const PROVIDER_REQUESTS: [&str; 2] = ["PaymentRequested", "RefundRequested"];

/// The one function the provider-action queue triggers.
fn provider_action_step() -> &'static str {
    triggered_by(Trigger::ProviderActionsQueue)
}

/// The step's one event, its trigger: where it is, and its Properties.
fn provider_action_event(template: &Value) -> (String, &Value) {
    let id = logical_id(provider_action_step());
    let events = resource(template, &id)["Properties"]["Events"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: the provider-action queue is its event"));
    let [(name, event)] = events.iter().collect::<Vec<_>>()[..] else {
        panic!("{id}: exactly one event, the provider-action queue; has {events:?}");
    };
    let where_ = format!("{id}.Events.{}", name.as_str().unwrap_or("?"));
    assert_eq!(event["Type"].as_str(), Some("SQS"), "{where_}: Type");
    (where_, &event["Properties"])
}

/// The SQS queue of a `!GetAtt <queue>.Arn`, which must be in the template.
fn queue_of_arn<'a>(template: &'a Value, owner: &str, arn: &Value) -> &'a str {
    let att = get_att(arn).unwrap_or_else(|| panic!("{owner}: {arn:?} is no !GetAtt <queue>.Arn"));
    let name = att
        .strip_suffix(".Arn")
        .unwrap_or_else(|| panic!("{owner}: {att} is not an Arn"));
    let queue = resources(template)
        .iter()
        .find_map(|(id, _)| id.as_str().filter(|id| *id == name))
        .unwrap_or_else(|| panic!("{owner}: {name} is not in {TEMPLATE}"));
    assert_eq!(
        resource(template, queue)["Type"].as_str(),
        Some("AWS::SQS::Queue"),
        "{owner}: {queue} is not an SQS queue"
    );
    queue
}

/// The provider-action queue: the one the step's event source reads.
fn provider_actions_queue(template: &Value) -> &str {
    let (where_, p) = provider_action_event(template);
    queue_of_arn(template, &where_, &p["Queue"])
}

/// The provider-action queue's dead-letter queue (its redrive target).
fn provider_actions_dead_letter_queue(template: &Value) -> &str {
    let queue = provider_actions_queue(template);
    let target = &resource(template, queue)["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
    queue_of_arn(template, queue, target)
}

/// The one rule targeting the provider-action queue: (logical id, its
/// Properties).
fn provider_actions_rule(template: &Value) -> (&str, &Value) {
    let queue_arn = format!("{}.Arn", provider_actions_queue(template));
    let rules: Vec<&str> = of_type(template, "AWS::Events::Rule")
        .into_iter()
        .filter(|id| {
            one_or_many(&resource(template, id)["Properties"]["Targets"])
                .into_iter()
                .any(|t| get_att(&t["Arn"]).as_deref() == Some(queue_arn.as_str()))
        })
        .collect();
    let [rule] = rules.as_slice() else {
        panic!("one rule sends to the provider-action queue, found {rules:?}");
    };
    (rule, &resource(template, rule)["Properties"])
}

/// `detail` in the envelope EventBridge delivers to an SQS target.
fn bus_envelope(detail_type: &str, source: &str, detail: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "0d7e4c1b-5a9f-4e2d-8c36-7b1a0f9e2d45",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2027-03-01T09:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })
}

/// The step reads its own queue (not the payment-events queue) in batches
/// of at most 10 gathered for at most a few seconds, and answers with the
/// records to redeliver (ReportBatchItemFailures).
#[test]
fn the_provider_action_step_reads_its_queue_in_small_batches_and_reports_batch_item_failures() {
    let template = template();
    let (where_, p) = provider_action_event(&template);
    let queue = provider_actions_queue(&template);
    assert!(
        ![payment_queue(&template), dead_letter_queue(&template)].contains(&queue),
        "{where_}: a queue of its own, not {queue}"
    );
    let batch = number(&p["BatchSize"]).unwrap_or(10);
    assert!(
        (1..=10).contains(&batch),
        "{where_}: BatchSize {batch}: a batch is a provider call per record"
    );
    let window = number(&p["MaximumBatchingWindowInSeconds"]).unwrap_or(0);
    assert!(
        (0..=5).contains(&window),
        "{where_}: MaximumBatchingWindowInSeconds {window}: a buyer waits for the checkout"
    );
    let types: Vec<&str> = one_or_many(&p["FunctionResponseTypes"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        types,
        ["ReportBatchItemFailures"],
        "{where_}: the step answers with the records to redeliver"
    );
    assert_ne!(p["Enabled"].as_bool(), Some(false), "{where_}: Enabled");
}

/// A record the step names as failed comes back once the queue's
/// visibility timeout has run out: it is both Lambda's guard (at least six
/// times the function's timeout) and the retry's backoff, at least 5
/// minutes between two tries of a provider that is down.
#[test]
fn the_provider_actions_visibility_timeout_is_six_times_the_step_timeout_and_the_retry_backoff() {
    let template = template();
    let queue = provider_actions_queue(&template);
    let step = logical_id(provider_action_step());
    let visibility = number(&resource(&template, queue)["Properties"]["VisibilityTimeout"])
        .unwrap_or_else(|| panic!("{queue}: VisibilityTimeout is set (SQS's default is 30 s)"));
    let timeout = timeout(&template, &step);
    assert!(
        visibility >= 6 * timeout,
        "{queue}: VisibilityTimeout {visibility} s < 6 × {step}'s Timeout {timeout} s"
    );
    assert!(
        (300..=900).contains(&visibility),
        "{queue}: VisibilityTimeout {visibility} s: a retry every 5 to 15 minutes"
    );
    assert!(
        timeout >= 30,
        "{step}: Timeout {timeout} s: room for a provider call (10 s) per record"
    );
}

/// A request that keeps failing is received 5 times, then moved to the
/// dead-letter queue, which keeps it 14 days — longer than the queue — and
/// redrives nowhere; both are encrypted with SQS-managed keys (the step's
/// role has no kms:); the dead-letter queue is alarmed on its first
/// message.
#[test]
fn the_provider_actions_queue_dead_letters_after_five_receives_to_an_alarmed_encrypted_queue() {
    let template = template();
    let queue = provider_actions_queue(&template);
    let dlq = provider_actions_dead_letter_queue(&template);
    assert_ne!(queue, dlq, "{queue} dead-letters to itself");
    assert!(
        ![
            dead_letter_queue(&template),
            sweep_dead_letter_queue(&template)
        ]
        .contains(&dlq),
        "{queue}: a dead-letter queue of its own, not {dlq}"
    );
    let redrive = &resource(&template, queue)["Properties"]["RedrivePolicy"];
    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        Some(5),
        "{queue}: maxReceiveCount"
    );
    let retention = |id: &str| {
        number(&resource(&template, id)["Properties"]["MessageRetentionPeriod"]).unwrap_or(345_600)
    };
    assert_eq!(retention(dlq), 1_209_600, "{dlq}: 14 days");
    assert!(retention(dlq) > retention(queue), "{dlq} outlives {queue}");
    assert!(
        resource(&template, dlq)["Properties"]["RedrivePolicy"].is_null(),
        "{dlq}: the dead-letter queue redrives nowhere"
    );
    for id in [queue, dlq] {
        let p = &resource(&template, id)["Properties"];
        assert_eq!(
            p["SqsManagedSseEnabled"].as_bool(),
            Some(true),
            "{id}: SqsManagedSseEnabled"
        );
        assert!(p["KmsMasterKeyId"].is_null(), "{id}: no KMS key");
        assert_ne!(p["FifoQueue"].as_bool(), Some(true), "{id}: standard");
    }
    assert_first_message_alarm(&template, dlq);
}

/// The rule on the stack's bus sends the step exactly what it acts on: the
/// payment and refund requests this service publishes (the outbox
/// publisher's source), the sample event's among them; never what the
/// step's own commits publish (a request accepted, a payment failed or
/// flagged), which would make it call itself, nor another source's
/// events. What it cannot deliver goes to the step's dead-letter queue.
#[test]
fn the_provider_actions_rule_sends_only_the_service_payment_and_refund_requests_to_the_queue() {
    let template = template();
    let bus = the_one(&template, "AWS::Events::EventBus");
    let (rule, p) = provider_actions_rule(&template);
    assert_eq!(
        ref_target(&p["EventBusName"]),
        Some(bus),
        "{rule}: EventBusName is the stack's bus"
    );
    assert!(
        matches!(p["State"].as_str(), None | Some("ENABLED")),
        "{rule}: State {:?}",
        p["State"]
    );
    let targets = one_or_many(&p["Targets"]);
    let [target] = targets.as_slice() else {
        panic!("{rule}: one target, the queue; has {targets:?}");
    };
    assert!(
        target["InputPath"].is_null()
            && target["Input"].is_null()
            && target["InputTransformer"].is_null(),
        "{rule}: the whole event goes to the queue (the step reads its envelope)"
    );
    assert_eq!(
        queue_of_arn(&template, rule, &target["DeadLetterConfig"]["Arn"]),
        provider_actions_dead_letter_queue(&template),
        "{rule}: what it cannot deliver goes to the step's dead-letter queue"
    );
    let pattern = serde_json::to_value(&p["EventPattern"])
        .unwrap_or_else(|e| panic!("{rule}: EventPattern ({e})"));
    let source = aws_adapters::eventbridge::SOURCE;
    let detail = serde_json::json!({"order_id": "ord_1", "type": "whatever"});
    for detail_type in PROVIDER_REQUESTS {
        let event = bus_envelope(detail_type, source, detail.clone());
        assert!(
            pattern_matches(&pattern, &event),
            "{rule}: must send {detail_type} from {source}"
        );
        let foreign = bus_envelope(detail_type, "aws.partner/other", detail.clone());
        assert!(
            !pattern_matches(&pattern, &foreign),
            "{rule}: must not send another source's {detail_type}"
        );
    }
    for detail_type in [
        "PaymentRequestAccepted",
        "RefundRequestAccepted",
        "PaymentFailed",
        "PaymentFlagged",
        "RefundFlagged",
        "PaymentSucceeded",
        "OrderCreated",
    ] {
        let event = bus_envelope(detail_type, source, detail.clone());
        assert!(
            !pattern_matches(&pattern, &event),
            "{rule}: must not send {detail_type}"
        );
    }
    // The sample event's body is an event the rule sends, carrying a
    // provider request of this service as its detail.
    let function = provider_action_step();
    let sample = sample_event(function);
    let records = sample["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("events/{function}.json: no Records"));
    for r in records {
        let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("events/{function}.json: the body is not JSON ({e})"));
        assert!(
            pattern_matches(&pattern, &body),
            "events/{function}.json: {rule} would not send this event: {body}"
        );
        let event: domain::event::DomainEvent = serde_json::from_value(body["detail"].clone())
            .unwrap_or_else(|e| panic!("events/{function}.json: detail is no DomainEvent ({e})"));
        assert_eq!(
            body["detail-type"],
            event.body.detail_type(),
            "events/{function}.json: detail-type"
        );
    }
}

/// Only EventBridge may send to the provider-action queue and its
/// dead-letter queue, and only for the rule: one queue policy, one
/// statement (sqs:SendMessage, principal events.amazonaws.com, aws:SourceArn
/// the rule's ARN) on those two queues and nothing else.
#[test]
fn only_the_provider_actions_rule_may_send_to_the_provider_action_queues() {
    let template = template();
    let queue = provider_actions_queue(&template);
    let dlq = provider_actions_dead_letter_queue(&template);
    let (rule, _) = provider_actions_rule(&template);
    let policies: Vec<&str> = of_type(&template, "AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|id| {
            one_or_many(&resource(&template, id)["Properties"]["Queues"])
                .into_iter()
                .any(|q| matches!(ref_target(q), Some(q) if q == queue || q == dlq))
        })
        .collect();
    let [policy] = policies.as_slice() else {
        panic!("one queue policy on {queue} and {dlq}, found {policies:?}");
    };
    let p = &resource(&template, policy)["Properties"];
    let queues: BTreeSet<&str> = one_or_many(&p["Queues"])
        .into_iter()
        .filter_map(ref_target)
        .collect();
    assert_eq!(queues, BTreeSet::from([queue, dlq]), "{policy}: Queues");
    let statements = one_or_many(&p["PolicyDocument"]["Statement"]);
    let [s] = statements.as_slice() else {
        panic!("{policy}: one statement, has {statements:?}");
    };
    assert_eq!(s["Effect"].as_str(), Some("Allow"), "{policy}: Effect");
    let principal = s["Principal"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{policy}: Principal is a service, not {:?}", s["Principal"]));
    assert_eq!(
        principal.len(),
        1,
        "{policy}: the service is the only principal"
    );
    let services: Vec<&str> = one_or_many(&s["Principal"]["Service"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(services, ["events.amazonaws.com"], "{policy}: Principal");
    let actions: Vec<&str> = one_or_many(&s["Action"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(actions, ["sqs:SendMessage"], "{policy}: Action");
    let resources: BTreeSet<String> = one_or_many(&s["Resource"])
        .into_iter()
        .map(|r| get_att(r).unwrap_or_else(|| panic!("{policy}: resource {r:?}")))
        .collect();
    assert_eq!(
        resources,
        BTreeSet::from([format!("{queue}.Arn"), format!("{dlq}.Arn")]),
        "{policy}: Resource"
    );
    let conditions = s["Condition"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{policy}: a Condition on the rule"));
    assert_eq!(conditions.len(), 1, "{policy}: one condition operator");
    assert_eq!(
        get_att(&s["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(format!("{rule}.Arn")),
        "{policy}: only for {rule} (ArnEquals aws:SourceArn)"
    );
}

/// The step gets exactly the item actions of its load and commit on the
/// table (GetItem for the strongly consistent load; ConditionCheck, Put,
/// Update, Delete for the one transaction recording an answer, the flags
/// included) and GetSecretValue on its keys' secret; no Query, no index,
/// no queue (SAM adds the event source's poller permissions), no bus.
#[test]
fn the_provider_action_step_can_only_load_and_commit_orders_and_read_its_keys_secret() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let id = logical_id(provider_action_step());
    let mut table_grants = BTreeSet::new();
    let mut secret_reads = 0;
    for s in statements(&template, &id) {
        if s.actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            let [resource] = s.resources.as_slice() else {
                panic!("{id}: one secret, not {:?}", s.resources);
            };
            assert_is_the_secret_named_by(&template, &id, resource, PROVIDER_KEYS_PARAMETER);
            secret_reads += 1;
            continue;
        }
        for resource in &s.resources {
            for action in &s.actions {
                table_grants.insert((
                    action.clone(),
                    get_att(resource)
                        .unwrap_or_else(|| panic!("{id}: resource {resource:?} is no !GetAtt")),
                ));
            }
        }
    }
    assert_eq!(secret_reads, 1, "{id}: one statement reads its secret");
    let commit: Vec<(&str, On)> = ORDER_COMMIT.iter().map(|a| (*a, On::Table)).collect();
    assert_eq!(
        table_grants,
        expected_table_grants(table, &commit),
        "{id}: (action, resource)"
    );
}

/// The step gets each provider's base URL from a parameter of its own
/// (`PROVIDER_URL_<PROVIDER>`), empty by default, whose description says
/// that an empty one leaves the provider unconfigured; and the keys'
/// secret by name (`PROVIDER_KEYS_SECRET_ID`, the `ProviderKeysSecretName`
/// parameter, whose description names every provider's key of its JSON).
/// Nothing else of its own: the table is the Globals' `TABLE_NAME`.
#[test]
fn the_provider_action_step_gets_the_provider_urls_and_keys_secret_from_parameters() {
    let template = template();
    let id = logical_id(provider_action_step());
    let env = resource(&template, &id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: Environment.Variables"));
    let names: BTreeSet<&str> = env.keys().filter_map(Value::as_str).collect();
    let urls: Vec<String> = Provider::ALL
        .iter()
        .map(|p| format!("PROVIDER_URL_{}", p.as_str().to_ascii_uppercase()))
        .collect();
    let mut expected: BTreeSet<&str> = urls.iter().map(String::as_str).collect();
    expected.insert(PROVIDER_KEYS_VARIABLE);
    assert_eq!(names, expected, "{id}: Environment.Variables");
    for variable in &urls {
        let parameter = ref_target(&env[variable.as_str()])
            .unwrap_or_else(|| panic!("{id}: {variable} is the !Ref of a parameter"));
        let p = &template["Parameters"][parameter];
        assert_eq!(p["Type"].as_str(), Some("String"), "parameter {parameter}");
        assert_eq!(
            p["Default"].as_str(),
            Some(""),
            "parameter {parameter}: no provider URL can be known in advance"
        );
        let description = p["Description"].as_str().unwrap_or_default();
        assert!(
            description.contains("Empty") && description.contains("unconfigured"),
            "parameter {parameter}: says that an empty URL leaves the provider unconfigured"
        );
    }
    assert_eq!(
        ref_target(&env[PROVIDER_KEYS_VARIABLE]),
        Some(PROVIDER_KEYS_PARAMETER),
        "{id}: {PROVIDER_KEYS_VARIABLE} is the !Ref of {PROVIDER_KEYS_PARAMETER}"
    );
    let parameter = &template["Parameters"][PROVIDER_KEYS_PARAMETER];
    assert_eq!(
        parameter["Type"].as_str(),
        Some("String"),
        "parameter {PROVIDER_KEYS_PARAMETER}"
    );
    let description = parameter["Description"].as_str().unwrap_or_default();
    for provider in Provider::ALL {
        assert!(
            description.contains(provider.as_str()),
            "parameter {PROVIDER_KEYS_PARAMETER}: its description names the key {provider}"
        );
    }
}

/// The step's sample event is a batch from the provider-action queue as
/// the template names it for the stack samconfig.toml deploys.
#[test]
fn the_provider_action_sample_event_comes_from_the_queue_of_the_deployed_stack() {
    let template = template();
    let queue = provider_actions_queue(&template);
    let pattern = sub(&resource(&template, queue)["Properties"]["QueueName"])
        .unwrap_or_else(|| panic!("{queue}: QueueName is a !Sub of the stack name"));
    let name = pattern.replace("${AWS::StackName}", &stack_name());
    assert!(!name.contains("${"), "{queue}: QueueName {pattern}");
    let function = provider_action_step();
    let event = sample_event(function);
    let records = event["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("events/{function}.json: no Records"));
    for r in records {
        let arn = r["eventSourceARN"].as_str().unwrap_or_default();
        let region = r["awsRegion"].as_str().unwrap_or_default();
        assert_eq!(r["eventSource"], "aws:sqs", "events/{function}.json");
        assert!(
            arn.starts_with(&format!("arn:aws:sqs:{region}:"))
                && arn.ends_with(&format!(":{name}")),
            "events/{function}.json: eventSourceARN {arn:?} is not the queue {name} in {region}"
        );
    }
}

// ---- domain events: table stream → publisher → bus --------------------------------

/// The name of the sparse index of unpublished events (`app::table::SCHEMA`).
const OUTBOX_INDEX: &str = "outbox";

/// The publisher's one event, its trigger: where it is, and its Properties.
fn publisher_stream_event(template: &Value) -> (String, &Value) {
    let id = logical_id(outbox_publisher());
    let events = resource(template, &id)["Properties"]["Events"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: the table's stream is its event"));
    let [(name, event)] = events.iter().collect::<Vec<_>>()[..] else {
        panic!("{id}: exactly one event, the table's stream; has {events:?}");
    };
    let where_ = format!("{id}.Events.{}", name.as_str().unwrap_or("?"));
    assert_eq!(event["Type"].as_str(), Some("DynamoDB"), "{where_}: Type");
    (where_, &event["Properties"])
}

/// The filter patterns of the publisher's event source, parsed.
fn publisher_filters(template: &Value) -> Vec<serde_json::Value> {
    let (where_, p) = publisher_stream_event(template);
    let filters = one_or_many(&p["FilterCriteria"]["Filters"]);
    assert!(
        !filters.is_empty(),
        "{where_}: FilterCriteria: without a filter every write to the table wakes the \
         publisher, its own marks included"
    );
    filters
        .into_iter()
        .map(|f| {
            let text = f["Pattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{where_}: a filter's Pattern is a JSON string: {f:?}"));
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{where_}: Pattern is not JSON ({e}): {text}"))
        })
        .collect()
}

/// Whether Lambda's event filtering hands `record` to the function: one
/// of the filters matches it.
fn admitted(filters: &[serde_json::Value], record: &serde_json::Value) -> bool {
    filters.iter().any(|f| pattern_matches(f, record))
}

/// A filter pattern (EventBridge syntax) against a record: every field of
/// the pattern is in the record and matches; a nested object matches the
/// nested record; a list matches when one of its items does, a literal by
/// equality, `{"prefix": p}` a string starting with `p`. Any other operator
/// fails the test: this check would have to learn it first.
fn pattern_matches(pattern: &serde_json::Value, value: &serde_json::Value) -> bool {
    use serde_json::Value as Json;
    match pattern {
        Json::Object(fields) => fields
            .iter()
            .all(|(k, p)| value.get(k).is_some_and(|v| pattern_matches(p, v))),
        Json::Array(alternatives) => alternatives.iter().any(|a| match a {
            Json::Object(op) => match op.iter().collect::<Vec<_>>()[..] {
                [(name, Json::String(prefix))] if name == "prefix" => value
                    .as_str()
                    .is_some_and(|v| v.starts_with(prefix.as_str())),
                _ => panic!("filter operator {a} is not one this check knows"),
            },
            literal => literal == value,
        }),
        other => panic!("a pattern's leaves are lists of values, not {other}"),
    }
}

/// A stream record of a write to the item (`pk`, `sk`), as the filter sees
/// it on a KEYS_ONLY stream.
fn stream_record(event_name: &str, pk: &str, sk: &str) -> serde_json::Value {
    let mut keys = serde_json::Map::new();
    keys.insert(table::PK.to_owned(), serde_json::json!({"S": pk}));
    keys.insert(table::SK.to_owned(), serde_json::json!({"S": sk}));
    serde_json::json!({
        "eventID": "1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_767_225_600,
            "Keys": keys,
            "SequenceNumber": "100",
            "SizeBytes": 64,
            "StreamViewType": "KEYS_ONLY",
        },
    })
}

/// The table streams keys only: the publisher reads the events from the
/// outbox, never from the records, and images would put every order
/// document on the stream for nothing.
#[test]
fn the_table_has_a_keys_only_stream() {
    let template = template();
    let id = the_one(&template, "AWS::DynamoDB::Table");
    let stream = &resource(&template, id)["Properties"]["StreamSpecification"];
    assert_eq!(
        stream["StreamViewType"].as_str(),
        Some("KEYS_ONLY"),
        "{id}: StreamSpecification.StreamViewType"
    );
}

/// The publisher reads the table's own stream from the deployment on
/// (LATEST), in small batches gathered for at most a few seconds, and a
/// batch whose drain keeps failing is retried a bounded number of times
/// (Lambda's default retries until the records expire, a day later,
/// holding up the shard meanwhile; the events wait in the outbox anyway).
#[test]
fn the_publisher_reads_the_table_stream_in_small_batches_with_bounded_retries() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let (where_, p) = publisher_stream_event(&template);
    assert_eq!(
        get_att(&p["Stream"]),
        Some(format!("{table}.StreamArn")),
        "{where_}: Stream"
    );
    assert_eq!(
        p["StartingPosition"].as_str(),
        Some("LATEST"),
        "{where_}: StartingPosition"
    );
    assert_ne!(p["Enabled"].as_bool(), Some(false), "{where_}: Enabled");
    // Lambda's default BatchSize for a stream is 100.
    let batch = number(&p["BatchSize"]).unwrap_or(100);
    assert!(
        (1..=100).contains(&batch),
        "{where_}: BatchSize {batch}: a batch is one drain, whatever its size"
    );
    let window = number(&p["MaximumBatchingWindowInSeconds"])
        .unwrap_or_else(|| panic!("{where_}: MaximumBatchingWindowInSeconds is set"));
    assert!(
        (0..=5).contains(&window),
        "{where_}: MaximumBatchingWindowInSeconds {window}: events wait at most a few seconds"
    );
    let retries = number(&p["MaximumRetryAttempts"])
        .unwrap_or_else(|| panic!("{where_}: MaximumRetryAttempts is set (the default is -1)"));
    assert!(
        (0..=10).contains(&retries),
        "{where_}: MaximumRetryAttempts {retries} is not a small bound"
    );
}

/// Only INSERTs of history items (sort key `EVENT#…`) wake the publisher:
/// not its own marks (a MODIFY that removes the outbox keys), not the
/// writes of orders, limits, ratings, credit lines, idempotency or
/// de-duplication records that share the table.
#[test]
fn the_publisher_filter_admits_only_inserts_of_history_items() {
    let template = template();
    let filters = publisher_filters(&template);
    let order = domain::ids::OrderId::parse("ord_1").expect("an order id");
    let user = domain::ids::UserId::parse("sup-1").expect("a user id");
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("an instant");
    let order_pk = table::order_pk(&order);
    let event_sk = table::event_sk(3, at, 1);
    assert!(event_sk.starts_with(table::EVENT_SK_PREFIX), "{event_sk}");
    let insert = stream_record("INSERT", &order_pk, &event_sk);
    assert!(
        admitted(&filters, &insert),
        "a new history item must wake the publisher: {insert}"
    );
    for name in ["MODIFY", "REMOVE"] {
        let record = stream_record(name, &order_pk, &event_sk);
        assert!(
            !admitted(&filters, &record),
            "a {name} of a history item (the publisher's own mark) must not wake it"
        );
    }
    let others = [
        (order_pk.clone(), table::ORDER_SK.to_owned()),
        (table::supplier_pk(&user), table::LIMIT_SK.to_owned()),
        (table::supplier_pk(&user), table::RATING_SK.to_owned()),
        (table::buyer_pk(&user), table::CREDIT_SK.to_owned()),
        ("IDEM#0123abcd".to_owned(), table::IDEM_SK.to_owned()),
        (
            table::dedup_pk(Provider::Card, "msg_1"),
            table::DEDUP_SK.to_owned(),
        ),
    ];
    for (pk, sk) in &others {
        for name in ["INSERT", "MODIFY", "REMOVE"] {
            let record = stream_record(name, pk, sk);
            assert!(
                !admitted(&filters, &record),
                "a {name} of ({pk}, {sk}) must not wake the publisher"
            );
        }
    }
}

/// The publisher's sample event is what the stream of the table of the
/// stack samconfig.toml deploys hands it: INSERTs of history items, keys
/// only as the table streams them, each one admitted by the filter.
#[test]
fn the_publisher_sample_event_is_admitted_inserts_from_the_stream_of_the_deployed_stack() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    // No TableName: CloudFormation names it <stack>-<logical id>-<suffix>.
    assert!(
        resource(&template, table)["Properties"]["TableName"].is_null(),
        "{table}: a TableName changes the stream ARN this test expects"
    );
    let prefix = format!("table/{}-{table}-", stack_name());
    let view = resource(&template, table)["Properties"]["StreamSpecification"]["StreamViewType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let filters = publisher_filters(&template);
    let function = outbox_publisher();
    let event = sample_event(function);
    let records = event["Records"]
        .as_array()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("events/{function}.json: no Records"));
    for r in records {
        let region = r["awsRegion"].as_str().unwrap_or_default();
        let arn = r["eventSourceARN"].as_str().unwrap_or_default();
        assert_eq!(r["eventSource"], "aws:dynamodb", "events/{function}.json");
        assert_eq!(r["eventName"], "INSERT", "events/{function}.json");
        let resource = arn
            .strip_prefix(&format!("arn:aws:dynamodb:{region}:"))
            .and_then(|rest| rest.split_once(':'))
            .filter(|(account, _)| account.len() == 12)
            .map(|(_, resource)| resource)
            .unwrap_or_else(|| panic!("events/{function}.json: eventSourceARN {arn:?}"));
        assert!(
            resource.starts_with(&prefix) && resource.contains("/stream/"),
            "events/{function}.json: eventSourceARN {arn:?} is not the stream of {prefix}…"
        );
        let change = &r["dynamodb"];
        assert_eq!(
            change["StreamViewType"], view,
            "events/{function}.json: StreamViewType"
        );
        assert!(
            change.get("NewImage").is_none() && change.get("OldImage").is_none(),
            "events/{function}.json: a KEYS_ONLY record has no images"
        );
        assert!(
            admitted(&filters, r),
            "events/{function}.json: the filter would not hand this record over: {r}"
        );
    }
}

/// The publisher publishes to the stack's bus: `EVENT_BUS_NAME` is the
/// `!Ref` (the name) of the one EventBridge bus, and its only variable of
/// its own.
#[test]
fn the_publisher_publishes_to_the_bus_of_the_stack() {
    let template = template();
    let bus = the_one(&template, "AWS::Events::EventBus");
    let id = logical_id(outbox_publisher());
    let env = resource(&template, &id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: Environment.Variables"));
    let names: Vec<&str> = env.keys().filter_map(Value::as_str).collect();
    assert_eq!(names, ["EVENT_BUS_NAME"], "{id}: Environment.Variables");
    assert_eq!(
        ref_target(&env["EVENT_BUS_NAME"]),
        Some(bus),
        "{id}: EVENT_BUS_NAME"
    );
}

// ---- permissions -------------------------------------------------------------------

/// The item actions of the one write path of an order
/// (`shared/app/src/write.rs`, `usecases.rs` over the DynamoStore): GetItem
/// to load (TransactGetItems is authorised as GetItem per item), one
/// TransactWriteItems to commit: ConditionCheck of the revision or Put of
/// the order, Put of its events and idempotency record, Update of the
/// limits, credit lines and ratings its events move, Put and Delete of the
/// flag items it opens and closes (Delete also gives an idempotency lease
/// up).
const ORDER_COMMIT: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// Where a call goes: the table (its items, or one partition of it for a
/// Query), or one of its indexes.
#[derive(Debug, Clone, Copy)]
enum On {
    Table,
    Index(&'static str),
}

/// What a routed function's code calls on the table (read from its
/// endpoints in `shared/http-api/src/` and the adapter in
/// `shared/aws-adapters/src/dynamodb/`). A new function says here what it
/// calls before it gets a policy.
fn table_calls(function: &str) -> Vec<(&'static str, On)> {
    let commit = || ORDER_COMMIT.iter().map(|a| (*a, On::Table));
    match function {
        // A party's command on an order: the write path only.
        "create-order" | "amend-order" | "confirm-order" | "cancel-order" | "initiate-payment"
        | "resolve-payment" | "ship-order" | "record-delivery" | "confirm-receipt"
        | "open-dispute" | "respond-dispute" | "escalate-dispute" => commit().collect(),
        // And a supplier's feedback: its rating item (GetItem), a page of
        // its feedback items (Query of its partition).
        "leave-feedback" => commit().chain([("dynamodb:Query", On::Table)]).collect(),
        // And the arbiters' queue: the keys-only index, then the orders.
        "decide-dispute" => commit()
            .chain([
                ("dynamodb:Query", On::Index("by_dispute_status")),
                ("dynamodb:BatchGetItem", On::Table),
            ])
            .collect(),
        // A party's orders from its keys-only listing index, then by key.
        "list-orders" => vec![
            ("dynamodb:Query", On::Index("by_buyer")),
            ("dynamodb:Query", On::Index("by_supplier")),
            ("dynamodb:BatchGetItem", On::Table),
        ],
        // The order, and a page of its history (its partition).
        "get-order" => vec![
            ("dynamodb:GetItem", On::Table),
            ("dynamodb:Query", On::Table),
        ],
        // The open flags, every attribute projected: the index alone.
        "list-flags" => vec![("dynamodb:Query", On::Index(FLAGS_INDEX))],
        // The credit line and the idempotency record: read, conditional
        // puts, a lease given up.
        "apply-credit-line" => vec![
            ("dynamodb:GetItem", On::Table),
            ("dynamodb:PutItem", On::Table),
            ("dynamodb:DeleteItem", On::Table),
        ],
        // The limit item, read and replaced on a condition.
        "set-assurance-limit" => vec![
            ("dynamodb:GetItem", On::Table),
            ("dynamodb:PutItem", On::Table),
        ],
        other => panic!("{other}: say in table_calls what its code calls on the table"),
    }
}

/// The name of the sparse index of what waits for an operator.
const FLAGS_INDEX: &str = "flags";

/// A function's grants as (action, resource), the resource as the
/// template names it (`Table.Arn`, `${Table.Arn}/index/<name>`).
fn grants(template: &Value, id: &str) -> BTreeSet<(String, String)> {
    let mut granted = BTreeSet::new();
    for s in statements(template, id) {
        for resource in &s.resources {
            let named = get_att(resource)
                .or_else(|| sub(resource).map(str::to_owned))
                .unwrap_or_else(|| panic!("{id}: resource {resource:?} is no !GetAtt or !Sub"));
            for action in &s.actions {
                granted.insert((action.clone(), named.clone()));
            }
        }
    }
    granted
}

/// `table_calls` as the template names them.
fn expected_table_grants(table: &str, calls: &[(&str, On)]) -> BTreeSet<(String, String)> {
    calls
        .iter()
        .map(|(action, on)| {
            let resource = match on {
                On::Table => format!("{table}.Arn"),
                On::Index(index) => {
                    assert!(
                        SCHEMA.index(index).is_some(),
                        "SCHEMA has the {index} index"
                    );
                    format!("${{{table}.Arn}}/index/{index}")
                }
            };
            ((*action).to_owned(), resource)
        })
        .collect()
}

/// Every routed function but the webhook gets exactly the calls its code
/// makes on the table (`table_calls`), in explicit statements: a reader
/// GetItem where it gets, Query only on the partition or the indexes it
/// reads; no SAM policy template (DynamoDBReadPolicy grants Scan on the
/// table and every index), no Scan, no other index, no queue, no bus, no
/// secret.
#[test]
fn routed_functions_only_read_or_load_and_commit_items_of_the_table() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    for function in functions() {
        if function == webhook::FUNCTION {
            // the_webhook_function_can_only_send_to_the_payment_queue_and_read_its_secret
            continue;
        }
        let id = logical_id(function);
        assert_eq!(
            grants(&template, &id),
            expected_table_grants(table, &table_calls(function)),
            "{id}: (action, resource)"
        );
    }
}

/// The arbiters' list of what waits for them (`GET /v1/flags`) reads the
/// `flags` index, which projects every attribute, and nothing else.
#[test]
fn the_flags_listing_can_only_query_the_flags_index() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let id = logical_id("list-flags");
    assert_eq!(
        grants(&template, &id),
        BTreeSet::from([(
            "dynamodb:Query".to_owned(),
            format!("${{{table}.Arn}}/index/{FLAGS_INDEX}")
        )]),
        "{id}: (action, resource)"
    );
    let flags = one_or_many(&resource(&template, table)["Properties"]["GlobalSecondaryIndexes"])
        .into_iter()
        .find(|g| g["IndexName"].as_str() == Some(FLAGS_INDEX))
        .unwrap_or_else(|| panic!("{table} has the {FLAGS_INDEX} index"));
    assert_eq!(
        flags["Projection"]["ProjectionType"].as_str(),
        Some("ALL"),
        "{table}: {FLAGS_INDEX} projects every attribute (the listing reads nothing else)"
    );
}

/// No policy of the template grants a Scan, a wildcard action or a
/// wildcard resource (`*`, `/index/*`): every grant names what it reaches.
#[test]
fn no_policy_grants_scan_or_a_wildcard() {
    let template = template();
    let mut checked = 0;
    let mut check = |owner: &str, action: &str, resource: &str| {
        checked += 1;
        assert!(
            !action.contains("Scan") && !action.contains('*'),
            "{owner}: action {action}"
        );
        assert!(!resource.contains('*'), "{owner}: {action} on {resource}");
    };
    for id in of_type(&template, "AWS::Serverless::Function") {
        for s in statements(&template, id) {
            for action in &s.actions {
                for resource in &s.resources {
                    for named in strings(resource) {
                        check(id, action, named);
                    }
                }
            }
        }
    }
    for role in of_type(&template, "AWS::IAM::Role") {
        for (action, resource) in role_grants(&template, role) {
            check(role, &action, &resource);
        }
    }
    assert!(checked > 0, "the check saw the grants");
}

/// The public webhook function can do two things: send a message to the
/// payment-events queue, read its secret. It reads no table, no other
/// secret, no other queue.
#[test]
fn the_webhook_function_can_only_send_to_the_payment_queue_and_read_its_secret() {
    let template = template();
    let id = logical_id(webhook::FUNCTION);
    let queue_arn = format!("{}.Arn", payment_queue(&template));
    let statements = statements(&template, &id);
    let (send, read): (Vec<_>, Vec<_>) = statements
        .iter()
        .partition(|s| s.actions.iter().any(|a| a.starts_with("sqs:")));
    assert!(!send.is_empty(), "{id}: it must be allowed to send");
    for s in send {
        assert_eq!(
            s.actions,
            BTreeSet::from(["sqs:SendMessage".to_owned()]),
            "{id}: actions"
        );
        for resource in &s.resources {
            assert_eq!(
                get_att(resource).as_deref(),
                Some(queue_arn.as_str()),
                "{id}: resource {resource:?}"
            );
        }
    }
    let [s] = read.as_slice() else {
        panic!("{id}: one statement besides sending: reading its secret");
    };
    assert_eq!(
        s.actions,
        BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]),
        "{id}: actions"
    );
    let [resource] = s.resources.as_slice() else {
        panic!("{id}: one resource, its secret: {:?}", s.resources);
    };
    assert_is_the_webhook_secret(&template, &id, resource);
}

/// What the consumer does to the table: GetItem for the de-duplication
/// mark, the order or the credit line (TransactGetItems is authorised as
/// GetItem), one TransactWriteItems of ConditionCheck/Put/Update/Delete
/// (the order's write path, its flag items included) for the effect with
/// its mark, and one conditional PutItem of a provider event it refuses.
/// No Query, no Scan, no index.
const CONSUMER_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The consumer gets exactly the item actions of its load/commit path, on
/// the table itself. (SAM adds the queue's poller permissions for the
/// event source mapping; the template grants nothing else.)
#[test]
fn the_payment_queue_consumer_has_only_the_item_actions_it_needs_on_the_table() {
    let template = template();
    let table_arn = format!("{}.Arn", the_one(&template, "AWS::DynamoDB::Table"));
    let id = logical_id(payment_queue_consumer());
    let mut granted = BTreeSet::new();
    for s in statements(&template, &id) {
        for resource in &s.resources {
            assert_eq!(
                get_att(resource).as_deref(),
                Some(table_arn.as_str()),
                "{id}: resource {resource:?}"
            );
        }
        granted.extend(s.actions);
    }
    let needed: BTreeSet<String> = CONSUMER_ACTIONS.iter().map(|a| (*a).to_owned()).collect();
    assert_eq!(granted, needed, "{id}: actions");
}

/// What a drain calls (`app::publisher::drain` over the DynamoDB outbox and
/// the EventBridge bus): Query on the `outbox` index, one UpdateItem per
/// entry (REMOVE the outbox keys; the condition is the update's own) on the
/// table, PutEvents on the bus.
fn publisher_grants(table: &str, bus: &str) -> BTreeSet<(String, String)> {
    [
        (
            "dynamodb:Query",
            format!("${{{table}.Arn}}/index/{OUTBOX_INDEX}"),
        ),
        ("dynamodb:UpdateItem", format!("{table}.Arn")),
        ("events:PutEvents", format!("{bus}.Arn")),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r))
    .collect()
}

/// The publisher gets exactly what a drain calls: Query on the `outbox`
/// index only (not the table, not another index), UpdateItem on the table
/// for the marks, PutEvents on the stack's bus. No GetItem, PutItem,
/// ConditionCheckItem, Scan or Delete; no queue. (SAM adds the stream's read
/// permissions for the event source mapping.)
#[test]
fn the_publisher_can_only_query_the_outbox_index_mark_items_and_put_events_on_the_bus() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let bus = the_one(&template, "AWS::Events::EventBus");
    assert!(
        SCHEMA.index(OUTBOX_INDEX).is_some(),
        "SCHEMA has the {OUTBOX_INDEX} index"
    );
    let id = logical_id(outbox_publisher());
    assert_eq!(
        grants(&template, &id),
        publisher_grants(table, bus),
        "{id}: (action, resource)"
    );
}

// ---- the scheduled sweep: EventBridge Scheduler → sweep function -----------------

/// The one function EventBridge Scheduler runs: the sweep.
fn sweep_function() -> &'static str {
    triggered_by(Trigger::Schedule)
}

/// The sweep's schedule: the one `AWS::Scheduler::Schedule`, which must
/// target the sweep function (`!GetAtt <Function>.Arn`).
fn sweep_schedule(template: &Value) -> &str {
    let schedule = the_one(template, "AWS::Scheduler::Schedule");
    let id = logical_id(sweep_function());
    assert_eq!(
        get_att(&resource(template, schedule)["Properties"]["Target"]["Arn"]),
        Some(format!("{id}.Arn")),
        "{schedule}: Target.Arn is the sweep function, unqualified"
    );
    schedule
}

/// The queue the sweep's schedule dead-letters to: `!GetAtt <queue>.Arn`
/// of an SQS queue of the template.
fn sweep_dead_letter_queue(template: &Value) -> &str {
    let schedule = sweep_schedule(template);
    let arn = &resource(template, schedule)["Properties"]["Target"]["DeadLetterConfig"]["Arn"];
    let att = get_att(arn).unwrap_or_else(|| {
        panic!("{schedule}: Target.DeadLetterConfig.Arn is not a !GetAtt <queue>.Arn: {arn:?}")
    });
    let name = att
        .strip_suffix(".Arn")
        .unwrap_or_else(|| panic!("{schedule}: the dead-letter target {att} is not an Arn"));
    let dlq = resources(template)
        .iter()
        .find_map(|(id, _)| id.as_str().filter(|id| *id == name))
        .unwrap_or_else(|| {
            panic!("{schedule}: the dead-letter target {name} is not in {TEMPLATE}")
        });
    assert_eq!(
        resource(template, dlq)["Type"].as_str(),
        Some("AWS::SQS::Queue"),
        "{schedule}: the dead-letter target {dlq} is not an SQS queue"
    );
    dlq
}

/// The scheduler's context attributes a target input may name
/// (`<aws.scheduler.…>`), each with a value as the scheduler fills it in.
const SCHEDULER_ATTRIBUTES: [(&str, &str); 4] = [
    (
        "<aws.scheduler.schedule-arn>",
        "arn:aws:scheduler:eu-west-1:210987654321:schedule/default/stack-sweep",
    ),
    ("<aws.scheduler.scheduled-time>", "2027-03-14T15:25:00Z"),
    ("<aws.scheduler.execution-id>", "e2b9c4d6f8a01357"),
    ("<aws.scheduler.attempt-number>", "2"),
];

/// The schedule's input as the scheduler hands it over: `${AWS::…}` as
/// CloudFormation substitutes them, then the scheduler's attributes.
fn filled_input(input: &str, account: &str, region: &str, attributes: &[(&str, &str)]) -> String {
    let mut filled = input
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region);
    for (name, value) in attributes {
        filled = filled.replace(name, value);
    }
    filled
}

/// Every 5 minutes, on time (no flexible window), enabled, the scheduler
/// invokes the sweep with exactly `TARGET_INPUT` (`!Sub` of the pseudo
/// parameters only); filled in, it parses as the `ScheduledEvent` the
/// function reads and names the instant to sweep at.
#[test]
fn the_sweep_runs_every_five_minutes_with_the_input_its_code_parses() {
    let template = template();
    let schedule = sweep_schedule(&template);
    let p = &resource(&template, schedule)["Properties"];
    assert_eq!(
        p["ScheduleExpression"].as_str(),
        Some("rate(5 minutes)"),
        "{schedule}: ScheduleExpression"
    );
    assert_eq!(
        p["FlexibleTimeWindow"]["Mode"].as_str(),
        Some("OFF"),
        "{schedule}: FlexibleTimeWindow.Mode (a quoted \"OFF\": bare OFF is a YAML boolean)"
    );
    assert!(
        matches!(p["State"].as_str(), None | Some("ENABLED")),
        "{schedule}: State {:?}",
        p["State"]
    );
    let input = sub(&p["Target"]["Input"])
        .unwrap_or_else(|| panic!("{schedule}: Target.Input is a !Sub of TARGET_INPUT"));
    assert_eq!(
        input, TARGET_INPUT,
        "{schedule}: Target.Input is entry_points::schedule::TARGET_INPUT"
    );
    let substituted = filled_input(input, "210987654321", "eu-west-1", &[]);
    assert!(
        !substituted.contains("${"),
        "{schedule}: Target.Input substitutes only AWS::AccountId and AWS::Region: {input}"
    );
    let mut rest = substituted.as_str();
    while let Some(at) = rest.find("<aws.scheduler.") {
        let end = rest[at..]
            .find('>')
            .unwrap_or_else(|| panic!("{schedule}: an unclosed attribute in {input}"));
        let name = &rest[at..at + end + 1];
        assert!(
            SCHEDULER_ATTRIBUTES.iter().any(|(a, _)| *a == name),
            "{schedule}: {name} is not a scheduler context attribute"
        );
        rest = &rest[at + end + 1..];
    }
    let filled = filled_input(input, "210987654321", "eu-west-1", &SCHEDULER_ATTRIBUTES);
    let event: ScheduledEvent = serde_json::from_str(&filled).unwrap_or_else(|e| {
        panic!("{schedule}: the filled-in input is no ScheduledEvent ({e}): {filled}")
    });
    let at = schedule::sweep_time(&event)
        .unwrap_or_else(|e| panic!("{schedule}: the sweep refuses the input ({e}): {filled}"));
    assert_eq!(
        at.to_rfc3339(),
        "2027-03-14T15:25:00+00:00",
        "the scheduled time"
    );
    assert_eq!(event.source, schedule::SOURCE);
    assert_eq!(event.detail_type, schedule::DETAIL_TYPE);
    assert_eq!(
        event.resources.as_deref(),
        Some(
            &["arn:aws:scheduler:eu-west-1:210987654321:schedule/default/stack-sweep".to_owned()][..]
        ),
        "the schedule's ARN, for the logs"
    );
}

/// The scheduler retries a failed invocation a few times within 15
/// minutes (3 runs: older is pointless, the next run sweeps anyway), then
/// dead-letters it to a queue of its own, encrypted with SQS-managed keys
/// (the scheduler's role has no kms:), kept 14 days. Lambda's own retries
/// of a run that failed (the scheduler invokes asynchronously) are bounded
/// the same way, and a run ends well before the next one starts.
#[test]
fn the_sweep_schedule_retries_briefly_then_dead_letters_to_an_encrypted_queue() {
    let template = template();
    let schedule = sweep_schedule(&template);
    let target = &resource(&template, schedule)["Properties"]["Target"];
    let retry = &target["RetryPolicy"];
    let attempts = number(&retry["MaximumRetryAttempts"]).unwrap_or_else(|| {
        panic!("{schedule}: RetryPolicy.MaximumRetryAttempts is set (the default is 185)")
    });
    assert!(
        (1..=5).contains(&attempts),
        "{schedule}: MaximumRetryAttempts {attempts}"
    );
    let age = number(&retry["MaximumEventAgeInSeconds"]).unwrap_or_else(|| {
        panic!("{schedule}: RetryPolicy.MaximumEventAgeInSeconds is set (the default is a day)")
    });
    assert!(
        (60..=900).contains(&age),
        "{schedule}: MaximumEventAgeInSeconds {age}: a sweep older than 15 minutes is pointless"
    );

    let dlq = sweep_dead_letter_queue(&template);
    let ours = [payment_queue(&template), dead_letter_queue(&template)];
    assert!(
        !ours.contains(&dlq),
        "{schedule}: dead-letters to {dlq}, a payment-events queue"
    );
    let q = &resource(&template, dlq)["Properties"];
    assert_eq!(
        q["SqsManagedSseEnabled"].as_bool(),
        Some(true),
        "{dlq}: SqsManagedSseEnabled"
    );
    assert!(q["KmsMasterKeyId"].is_null(), "{dlq}: no KMS key");
    assert_ne!(
        q["FifoQueue"].as_bool(),
        Some(true),
        "{dlq}: the scheduler needs a standard queue"
    );
    assert_eq!(
        number(&q["MessageRetentionPeriod"]),
        Some(1_209_600),
        "{dlq}: 14 days"
    );
    assert!(q["RedrivePolicy"].is_null(), "{dlq}: redrives nowhere");

    let id = logical_id(sweep_function());
    let invoke = &resource(&template, &id)["Properties"]["EventInvokeConfig"];
    let retries = number(&invoke["MaximumRetryAttempts"])
        .unwrap_or_else(|| panic!("{id}: EventInvokeConfig.MaximumRetryAttempts is set"));
    assert!(
        (0..=2).contains(&retries),
        "{id}: MaximumRetryAttempts {retries}"
    );
    let age = number(&invoke["MaximumEventAgeInSeconds"]).unwrap_or_else(|| {
        panic!("{id}: EventInvokeConfig.MaximumEventAgeInSeconds is set (the default is 6 hours)")
    });
    assert!(
        (60..=900).contains(&age),
        "{id}: MaximumEventAgeInSeconds {age}: a sweep older than 15 minutes is pointless"
    );
    let timeout = timeout(&template, &id);
    assert!(
        timeout < 300,
        "{id}: Timeout {timeout} s: a run ends before the next one (5 minutes) starts"
    );
}

/// An alarm goes off on the first invocation the scheduler could not
/// deliver: until someone fixes the cause, nothing escalates or cancels.
#[test]
fn an_alarm_fires_on_the_first_message_in_the_sweep_dead_letter_queue() {
    let template = template();
    assert_first_message_alarm(&template, sweep_dead_letter_queue(&template));
}

/// The statements of an `AWS::IAM::Role`'s inline policies, as (action,
/// resource) pairs, every one an `Allow`.
fn role_grants(template: &Value, role: &str) -> BTreeSet<(String, String)> {
    let mut granted = BTreeSet::new();
    for policy in one_or_many(&resource(template, role)["Properties"]["Policies"]) {
        for s in one_or_many(&policy["PolicyDocument"]["Statement"]) {
            assert_eq!(s["Effect"].as_str(), Some("Allow"), "{role}: {s:?}");
            for action in one_or_many(&s["Action"]) {
                for r in one_or_many(&s["Resource"]) {
                    let named = get_att(r)
                        .or_else(|| sub(r).map(str::to_owned))
                        .unwrap_or_else(|| panic!("{role}: resource {r:?} is no !GetAtt or !Sub"));
                    granted.insert((action.as_str().unwrap_or_default().to_owned(), named));
                }
            }
        }
    }
    granted
}

/// The scheduler runs the schedule as a role of its own that only this
/// account's scheduler may assume, for a schedule of its group, and that
/// may only invoke the sweep function and send to the sweep's dead-letter
/// queue.
#[test]
fn the_scheduler_role_can_only_invoke_the_sweep_and_dead_letter_to_its_queue() {
    let template = template();
    let schedule = sweep_schedule(&template);
    let role_arn = &resource(&template, schedule)["Properties"]["Target"]["RoleArn"];
    let role = get_att(role_arn)
        .and_then(|a| a.strip_suffix(".Arn").map(str::to_owned))
        .unwrap_or_else(|| {
            panic!("{schedule}: Target.RoleArn is a !GetAtt <role>.Arn: {role_arn:?}")
        });
    let r = resource(&template, &role);
    assert_eq!(r["Type"].as_str(), Some("AWS::IAM::Role"), "{role}: Type");
    let p = &r["Properties"];
    assert!(
        p["ManagedPolicyArns"].is_null(),
        "{role}: no managed policy, only its inline statements"
    );
    let trust = one_or_many(&p["AssumeRolePolicyDocument"]["Statement"]);
    let [t] = trust.as_slice() else {
        panic!("{role}: one trust statement, has {trust:?}");
    };
    assert_eq!(t["Effect"].as_str(), Some("Allow"), "{role}: trust");
    let principals: Vec<&str> = one_or_many(&t["Principal"]["Service"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        principals,
        ["scheduler.amazonaws.com"],
        "{role}: trusted service"
    );
    assert!(
        t["Principal"].as_mapping().is_some_and(|m| m.len() == 1),
        "{role}: the scheduler is the only principal: {:?}",
        t["Principal"]
    );
    let actions: Vec<&str> = one_or_many(&t["Action"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(actions, ["sts:AssumeRole"], "{role}: trust action");
    assert_eq!(
        ref_target(&t["Condition"]["StringEquals"]["aws:SourceAccount"]),
        Some("AWS::AccountId"),
        "{role}: only this account's scheduler (confused deputy)"
    );
    // The scheduler names the schedule's group, not the schedule, as the
    // source of the request.
    let group = resource(&template, schedule)["Properties"]["GroupName"]
        .as_str()
        .unwrap_or("default");
    assert_eq!(
        sub(&t["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(
            format!(
                "arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule-group/{group}"
            )
            .as_str()
        ),
        "{role}: only for {schedule}'s group"
    );

    let function = logical_id(sweep_function());
    let dlq = sweep_dead_letter_queue(&template);
    let expected: BTreeSet<(String, String)> = [
        (
            "lambda:InvokeFunction".to_owned(),
            format!("{function}.Arn"),
        ),
        ("sqs:SendMessage".to_owned(), format!("{dlq}.Arn")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        role_grants(&template, &role),
        expected,
        "{role}: (action, resource)"
    );
}

/// What one run calls (`app::sweep::run` over the DynamoDB store and the
/// EventBridge bus): Query on the `due` index; GetItem to load a due order
/// and a TransactWriteItems of Put (the order, its events, the flags it
/// raises), Update (a limit or credit line released) and Delete (the flags
/// it settles) to commit it on the version it read, so no ConditionCheck;
/// then the outbox drain: Query on the `outbox` index, PutEvents on the
/// bus, Update for the marks.
fn sweep_grants(table: &str, bus: &str) -> BTreeSet<(String, String)> {
    [
        (
            "dynamodb:Query",
            format!("${{{table}.Arn}}/index/{DUE_INDEX}"),
        ),
        ("dynamodb:GetItem", format!("{table}.Arn")),
        ("dynamodb:PutItem", format!("{table}.Arn")),
        ("dynamodb:UpdateItem", format!("{table}.Arn")),
        ("dynamodb:DeleteItem", format!("{table}.Arn")),
        (
            "dynamodb:Query",
            format!("${{{table}.Arn}}/index/{OUTBOX_INDEX}"),
        ),
        ("events:PutEvents", format!("{bus}.Arn")),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r))
    .collect()
}

/// The name of the sparse index of due orders (`app::table::SCHEMA`).
const DUE_INDEX: &str = "due";

/// The sweep gets exactly what a run calls: no Scan, no other index, no
/// queue (SAM adds sqs:SendMessage on its failed-runs queue for Lambda's
/// on-failure destination); and publishes to the stack's bus (`EVENT_BUS_NAME`,
/// its only variable of its own).
#[test]
fn the_sweep_can_only_read_due_orders_commit_them_and_republish_the_outbox() {
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    let bus = the_one(&template, "AWS::Events::EventBus");
    for index in [DUE_INDEX, OUTBOX_INDEX] {
        assert!(
            SCHEMA.index(index).is_some(),
            "SCHEMA has the {index} index"
        );
    }
    let id = logical_id(sweep_function());
    assert_eq!(
        grants(&template, &id),
        sweep_grants(table, bus),
        "{id}: (action, resource)"
    );
    let env = resource(&template, &id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: Environment.Variables"));
    let names: Vec<&str> = env.keys().filter_map(Value::as_str).collect();
    assert_eq!(names, ["EVENT_BUS_NAME"], "{id}: Environment.Variables");
    assert_eq!(
        ref_target(&env["EVENT_BUS_NAME"]),
        Some(bus),
        "{id}: EVENT_BUS_NAME"
    );
}

/// The sweep's sample event is what the schedule of the stack
/// samconfig.toml deploys sends: `TARGET_INPUT` with the sample's account,
/// region and the scheduler's attributes filled in, the ARN that of the
/// schedule the template names; the sweep reads its time.
#[test]
fn the_sweep_sample_event_is_what_the_schedule_of_the_deployed_stack_sends() {
    let template = template();
    let schedule = sweep_schedule(&template);
    let p = &resource(&template, schedule)["Properties"];
    let pattern =
        sub(&p["Name"]).unwrap_or_else(|| panic!("{schedule}: Name is a !Sub of the stack name"));
    let name = pattern.replace("${AWS::StackName}", &stack_name());
    assert!(!name.contains("${"), "{schedule}: Name {pattern}");
    assert!(
        name.len() <= 64,
        "{schedule}: the name {name} is too long for a schedule"
    );
    let group = p["GroupName"].as_str().unwrap_or("default");
    let function = sweep_function();
    let sample = sample_event(function);
    let text = |field: &str| -> String {
        sample[field]
            .as_str()
            .unwrap_or_else(|| panic!("events/{function}.json: {field} is a string"))
            .to_owned()
    };
    let (account, region) = (text("account"), text("region"));
    assert!(
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
        "events/{function}.json: account {account:?}"
    );
    let arn = format!("arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}");
    let attempt = sample["detail"]["attempt"]
        .as_str()
        .unwrap_or_else(|| panic!("events/{function}.json: detail.attempt is a string"))
        .to_owned();
    let attributes = [
        ("<aws.scheduler.schedule-arn>", arn.as_str()),
        ("<aws.scheduler.scheduled-time>", text("time").as_str()),
        ("<aws.scheduler.execution-id>", text("id").as_str()),
        ("<aws.scheduler.attempt-number>", attempt.as_str()),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let attributes: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let expected: serde_json::Value =
        serde_json::from_str(&filled_input(TARGET_INPUT, &account, &region, &attributes))
            .expect("the filled-in input is JSON");
    assert_eq!(
        sample, expected,
        "events/{function}.json is not what {schedule} sends (TARGET_INPUT filled in)"
    );
    let event: ScheduledEvent = serde_json::from_value(sample.clone())
        .unwrap_or_else(|e| panic!("events/{function}.json is no ScheduledEvent: {e}"));
    let at = schedule::sweep_time(&event)
        .unwrap_or_else(|e| panic!("events/{function}.json: the sweep refuses it: {e}"));
    assert_eq!(
        Some(at),
        chrono::DateTime::parse_from_rfc3339(&text("time"))
            .ok()
            .map(|t| t.to_utc()),
        "events/{function}.json: the sweep runs at its time"
    );
}

// ---- the lifecycle's clocks -------------------------------------------------------

/// The function that creates orders (each order keeps the clocks it was
/// created with).
const CREATE_ORDER: &str = "create-order";

/// `confirmation_days` → `ClockConfirmationDays`.
fn clock_parameter(name: &str) -> String {
    let mut out = String::from("Clock");
    for part in name.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// Every clock of "every order ends" is a Number parameter whose default is
/// the product's rule and whose range is the one the code accepts; only the
/// function creating orders gets them, as the `CLOCK_<NAME>` variables it
/// reads.
#[test]
fn create_order_takes_every_clock_from_the_template_parameters() {
    use domain::clocks::{Clocks, SETTINGS};
    let template = template();
    let default = Clocks::default();
    let id = logical_id(CREATE_ORDER);
    let env = resource(&template, &id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{id}: Environment.Variables"));
    let names: BTreeSet<&str> = env.keys().filter_map(Value::as_str).collect();
    let variables: Vec<String> = SETTINGS
        .iter()
        .map(|s| format!("CLOCK_{}", s.name.to_ascii_uppercase()))
        .collect();
    let expected: BTreeSet<&str> = variables.iter().map(String::as_str).collect();
    assert_eq!(names, expected, "{id}: Environment.Variables");
    for (s, variable) in SETTINGS.iter().zip(&variables) {
        let parameter = clock_parameter(s.name);
        let p = &template["Parameters"][parameter.as_str()];
        assert_eq!(
            p["Type"].as_str(),
            Some("Number"),
            "parameter {parameter}: Type"
        );
        assert_eq!(
            number(&p["Default"]),
            Some(i64::from((s.get)(&default))),
            "parameter {parameter}: Default (Clocks::default())"
        );
        assert_eq!(
            (number(&p["MinValue"]), number(&p["MaxValue"])),
            (Some(i64::from(s.min)), Some(i64::from(s.max))),
            "parameter {parameter}: range (domain::clocks::SETTINGS)"
        );
        assert_eq!(
            ref_target(&env[variable.as_str()]),
            Some(parameter.as_str()),
            "{id}: {variable} is the !Ref of {parameter}"
        );
    }
    for function in all_functions().into_iter().filter(|f| *f != CREATE_ORDER) {
        let id = logical_id(function);
        let env = &resource(&template, &id)["Properties"]["Environment"]["Variables"];
        if let Some(env) = env.as_mapping() {
            for name in env.keys().filter_map(Value::as_str) {
                assert!(
                    !name.starts_with("CLOCK_"),
                    "{id}: {name} is create-order's"
                );
            }
        }
    }
    // What the code makes of the parameters' defaults: the product's rules.
    let from_defaults = Clocks::from_lookup(|k| {
        SETTINGS
            .iter()
            .find(|s| format!("CLOCK_{}", s.name.to_ascii_uppercase()) == k)
            .map(|s| (s.get)(&default).to_string())
    });
    assert_eq!(from_defaults, Ok(default), "the parameters' defaults");
}

/// The arbiters' listing (`GET /v1/disputes`, decide-dispute) reads the
/// sparse `by_dispute_status` index of the table, and no other, and fetches
/// the page's orders from the table by key.
#[test]
fn the_arbiters_listing_queries_the_disputes_by_status_index() {
    const INDEX: &str = "by_dispute_status";
    let template = template();
    let table = the_one(&template, "AWS::DynamoDB::Table");
    assert!(
        SCHEMA.index(INDEX).is_some(),
        "SCHEMA has the {INDEX} index"
    );
    let function = ROUTES
        .iter()
        .find(|r| r.method == "GET" && r.path == "/v1/disputes")
        .map(|r| r.function)
        .unwrap_or_else(|| panic!("ROUTES has GET /v1/disputes"));
    let id = logical_id(function);
    let queried: Vec<String> = statements(&template, &id)
        .into_iter()
        .filter(|s| s.actions.contains("dynamodb:Query"))
        .flat_map(|s| s.resources)
        .map(|r| sub(&r).unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        queried,
        [format!("${{{table}.Arn}}/index/{INDEX}")],
        "{id}: Query only on {INDEX}"
    );
    // The index holds keys only: the page's orders are fetched by key.
    assert!(
        !SCHEMA.index(INDEX).is_some_and(|g| g.project_all),
        "{INDEX} is keys only"
    );
    let fetched: Vec<String> = statements(&template, &id)
        .into_iter()
        .filter(|s| s.actions.contains("dynamodb:BatchGetItem"))
        .flat_map(|s| s.resources)
        .map(|r| get_att(&r).unwrap_or_default())
        .collect();
    assert_eq!(
        fetched,
        [format!("{table}.Arn")],
        "{id}: BatchGetItem on the table"
    );
}

// ---- operators are told: logs, traces, alarms ----------------------------------

/// CloudWatch Logs' retention periods, in days.
const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The parameter every log group's retention is.
const RETENTION_PARAMETER: &str = "LogRetentionDays";

/// The runbook every alarm's description points into.
const RUNBOOK: &str = "docs/operations.md";

/// The package of a function resource (`Metadata.BuildProperties.Binary`).
fn package_of<'a>(template: &'a Value, id: &str) -> &'a str {
    resource(template, id)["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary"))
}

/// `group` is an `AWS::Logs::LogGroup` keeping its logs `LogRetentionDays`.
fn assert_kept_for_the_retention_parameter(template: &Value, group: &str) {
    let r = resource(template, group);
    assert_eq!(
        r["Type"].as_str(),
        Some("AWS::Logs::LogGroup"),
        "{group}: Type"
    );
    assert_eq!(
        ref_target(&r["Properties"]["RetentionInDays"]),
        Some(RETENTION_PARAMETER),
        "{group}: RetentionInDays"
    );
}

/// The retention is a parameter of 30 days by default, offering exactly
/// CloudWatch Logs' periods.
#[test]
fn log_retention_is_a_parameter_of_cloudwatch_periods_30_days_by_default() {
    let template = template();
    let p = &template["Parameters"][RETENTION_PARAMETER];
    assert_eq!(p["Type"].as_str(), Some("Number"), "{RETENTION_PARAMETER}");
    assert_eq!(number(&p["Default"]), Some(30), "{RETENTION_PARAMETER}");
    let allowed: Vec<i64> = one_or_many(&p["AllowedValues"])
        .into_iter()
        .filter_map(number)
        .collect();
    assert_eq!(
        allowed, RETENTION_DAYS,
        "{RETENTION_PARAMETER}: AllowedValues"
    );
}

/// Every function writes to a log group of its own
/// (`LoggingConfig.LogGroup`), named after its package under the stack,
/// kept `LogRetentionDays`; none shares one.
#[test]
fn every_function_logs_to_a_log_group_of_its_own_kept_for_the_retention_parameter() {
    let template = template();
    let mut seen = BTreeSet::new();
    let functions = of_type(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for id in functions {
        let config = &resource(&template, id)["Properties"]["LoggingConfig"];
        let group = ref_target(&config["LogGroup"])
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup is a !Ref of its log group"));
        assert_kept_for_the_retention_parameter(&template, group);
        assert!(
            seen.insert(group),
            "{id}: {group} is another function's too"
        );
        let package = package_of(&template, id);
        assert_eq!(
            sub(&resource(&template, group)["Properties"]["LogGroupName"]),
            Some(format!("/aws/lambda/${{AWS::StackName}}/{package}").as_str()),
            "{group}: LogGroupName"
        );
        for global in ["LogFormat", "ApplicationLogLevel", "SystemLogLevel"] {
            assert!(
                config[global].is_null(),
                "{id}: LoggingConfig.{global} is the Globals' one"
            );
        }
    }
}

/// Logs are JSON at the `LogLevel` parameter's level, and the platform's
/// own lines (START, END, REPORT: durations, memory, cold starts) are kept:
/// SystemLogLevel INFO. Every function is traced (X-Ray, Active).
#[test]
fn every_function_is_traced_and_keeps_the_platform_report_lines() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    let logging = &globals["LoggingConfig"];
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    assert_eq!(
        ref_target(&logging["ApplicationLogLevel"]),
        Some("LogLevel")
    );
    assert_eq!(logging["SystemLogLevel"].as_str(), Some("INFO"));
    assert_eq!(
        globals["Tracing"].as_str(),
        Some("Active"),
        "Globals.Function.Tracing"
    );
    for id in of_type(&template, "AWS::Serverless::Function") {
        let tracing = &resource(&template, id)["Properties"]["Tracing"];
        assert!(
            tracing.is_null() || tracing.as_str() == Some("Active"),
            "{id}: Tracing {tracing:?}"
        );
    }
}

/// The application log level offers what the Rust runtime parses (tracing's
/// levels): no FATAL, which it would refuse.
#[test]
fn the_log_level_parameter_offers_only_levels_the_runtime_parses() {
    let template = template();
    let p = &template["Parameters"]["LogLevel"];
    let allowed: Vec<&str> = one_or_many(&p["AllowedValues"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        allowed,
        ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"],
        "LogLevel"
    );
    assert_eq!(p["Default"].as_str(), Some("INFO"), "LogLevel: Default");
}

/// The alarms on one metric: (logical id, Properties).
fn alarms_on<'a>(
    template: &'a Value,
    namespace: &str,
    metric: &str,
    dimension: (&str, &dyn Fn(&Value) -> bool),
) -> Vec<(&'a str, &'a Value)> {
    of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|id| (id, &resource(template, id)["Properties"]))
        .filter(|(_, p)| {
            let dimensions = one_or_many(&p["Dimensions"]);
            p["Namespace"].as_str() == Some(namespace)
                && p["MetricName"].as_str() == Some(metric)
                && matches!(dimensions.as_slice(), [d]
                    if d["Name"].as_str() == Some(dimension.0) && (dimension.1)(&d["Value"]))
        })
        .collect()
}

/// The one alarm on a metric; panics naming what is missing.
fn the_alarm_on<'a>(
    template: &'a Value,
    namespace: &str,
    metric: &str,
    dimension: (&str, &dyn Fn(&Value) -> bool),
) -> (&'a str, &'a Value) {
    let found = alarms_on(template, namespace, metric, dimension);
    match found.as_slice() {
        [one] => *one,
        other => panic!(
            "one alarm on {namespace} {metric} ({}), found {:?}",
            dimension.0,
            other.iter().map(|(id, _)| id).collect::<Vec<_>>()
        ),
    }
}

/// Whether an alarm fires on a value of at least `at_least` (`>= n` or
/// `> n - 1` for counts; `> n` or `>= n` for ages).
fn fires_from(p: &Value, at_least: i64) -> bool {
    let threshold = number(&p["Threshold"]);
    match p["ComparisonOperator"].as_str() {
        Some("GreaterThanOrEqualToThreshold") => threshold == Some(at_least),
        Some("GreaterThanThreshold") => threshold == Some(at_least - 1),
        _ => false,
    }
}

/// Every function has an alarm on its Errors and one on its Throttles
/// (`AWS/Lambda`, its name), each firing on the first one in at most 5
/// minutes and quiet when the function is idle.
#[test]
fn every_function_has_errors_and_throttles_alarms() {
    let template = template();
    for id in of_type(&template, "AWS::Serverless::Function") {
        for metric in ["Errors", "Throttles"] {
            let this_function = |v: &Value| ref_target(v) == Some(id);
            let (alarm, p) = the_alarm_on(
                &template,
                "AWS/Lambda",
                metric,
                ("FunctionName", &this_function),
            );
            assert_eq!(p["Statistic"].as_str(), Some("Sum"), "{alarm}: Statistic");
            assert!(fires_from(p, 1), "{alarm}: fires on the first {metric}");
            assert!(
                number(&p["Period"]).is_some_and(|s| s <= 300)
                    && number(&p["EvaluationPeriods"]) == Some(1),
                "{alarm}: within 5 minutes"
            );
            assert_eq!(
                p["TreatMissingData"].as_str(),
                Some("notBreaching"),
                "{alarm}: an idle function is no alarm"
            );
        }
    }
}

/// GitHub's anchor of a markdown heading: lower case, spaces to hyphens,
/// other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of the runbook's headings.
fn runbook_anchors() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join(RUNBOOK))
        .unwrap_or_else(|e| panic!("{RUNBOOK}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// Every alarm notifies the topic in use when it fires and when it clears,
/// and its description says what it means and points to a section of the
/// runbook that exists.
#[test]
fn every_alarm_notifies_the_topic_in_use_and_points_to_its_runbook() {
    let template = template();
    let anchors = runbook_anchors();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty());
    for alarm in alarms {
        let p = &resource(&template, alarm)["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            assert!(
                notifies_the_topic_in_use(&template, &p[actions]),
                "{alarm}: {actions} is [!If [<created>, !Ref <topic>, !Ref {ALARM_TOPIC_PARAMETER}]]"
            );
        }
        let description = p["AlarmDescription"].as_str().unwrap_or_default();
        assert!(
            description.len() >= 80 && description.len() <= 1024,
            "{alarm}: AlarmDescription says what it means and what to do (80 to 1024 characters)"
        );
        let link = format!("{RUNBOOK}#");
        let section = description
            .split_once(link.as_str())
            .map(|(_, rest)| {
                rest.split(|c: char| c.is_whitespace() || c == ')')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('.')
            })
            .unwrap_or_else(|| panic!("{alarm}: AlarmDescription points to {link}<section>"));
        assert!(
            anchors.contains(section),
            "{alarm}: {RUNBOOK} has no section #{section}"
        );
    }
}

/// The stack creates the alarm topic unless `AlarmTopicArn` names one;
/// `AlarmEmail`, when given, subscribes to the created topic (by e-mail).
#[test]
fn the_alarm_topic_is_created_unless_one_is_given_with_the_email_subscribed() {
    let template = template();
    let (topic, created) = created_alarm_topic(&template);
    let email = &template["Parameters"]["AlarmEmail"];
    assert_eq!(email["Type"].as_str(), Some("String"), "AlarmEmail");
    assert_eq!(
        email["Default"].as_str(),
        Some(""),
        "AlarmEmail: none by default"
    );
    assert_eq!(
        template["Parameters"][ALARM_TOPIC_PARAMETER]["Default"].as_str(),
        Some(""),
        "{ALARM_TOPIC_PARAMETER}: the stack's own topic by default"
    );
    let subscription = &resource(&template, topic)["Properties"]["Subscription"];
    let [condition, subscribed, none] = intrinsic_args(subscription, "If")
        .unwrap_or_else(|| panic!("{topic}: Subscription is !If [<an e-mail>, [...], NoValue]"))
    else {
        panic!("{topic}: !If takes three arguments");
    };
    assert_eq!(
        ref_target(none),
        Some("AWS::NoValue"),
        "{topic}: no e-mail, no subscription"
    );
    let subscribed = one_or_many(subscribed);
    let [s] = subscribed.as_slice() else {
        panic!("{topic}: one subscription");
    };
    assert_eq!(s["Protocol"].as_str(), Some("email"), "{topic}");
    assert_eq!(ref_target(&s["Endpoint"]), Some("AlarmEmail"), "{topic}");
    let condition = condition.as_str().expect("a condition's name");
    let and = intrinsic_args(&template["Conditions"][condition], "And")
        .unwrap_or_else(|| panic!("condition {condition} is an !And"));
    assert!(
        and.iter()
            .any(|c| intrinsic(c, "Condition").and_then(Value::as_str) == Some(created)),
        "condition {condition}: only with the created topic"
    );
    assert!(
        and.iter().any(|c| intrinsic_args(c, "Not")
            .and_then(|n| n.first())
            .and_then(|e| intrinsic_args(e, "Equals"))
            .is_some_and(|e| e.iter().any(|v| ref_target(v) == Some("AlarmEmail")))),
        "condition {condition}: only when AlarmEmail is not empty"
    );
}

/// The API's 5xx answers (any route) are alarmed.
#[test]
fn the_api_5xx_answers_are_alarmed() {
    let template = template();
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let this_api = |v: &Value| ref_target(v) == Some(api);
    let (alarm, p) = the_alarm_on(&template, "AWS/ApiGateway", "5xx", ("ApiId", &this_api));
    assert_eq!(p["Statistic"].as_str(), Some("Sum"), "{alarm}: Statistic");
    let threshold = number(&p["Threshold"]).unwrap_or_default();
    assert!(
        (1..=10).contains(&threshold) && number(&p["Period"]).is_some_and(|s| s <= 300),
        "{alarm}: a few 5xx within 5 minutes"
    );
}

/// The publisher falling behind the table's stream (its event source's
/// IteratorAge, in milliseconds) is alarmed within minutes.
#[test]
fn the_publisher_falling_behind_the_stream_is_alarmed() {
    let template = template();
    let id = logical_id(outbox_publisher());
    let publisher = |v: &Value| ref_target(v) == Some(id.as_str());
    let (alarm, p) = the_alarm_on(
        &template,
        "AWS/Lambda",
        "IteratorAge",
        ("FunctionName", &publisher),
    );
    assert_eq!(
        p["Statistic"].as_str(),
        Some("Maximum"),
        "{alarm}: Statistic"
    );
    let threshold = number(&p["Threshold"]).unwrap_or_default();
    assert!(
        (60_000..=900_000).contains(&threshold),
        "{alarm}: Threshold {threshold} ms: between 1 and 15 minutes behind"
    );
}

/// A sweep run that still fails after Lambda's retries (or waited too
/// long) goes to an on-failure destination: an encrypted queue of its own,
/// kept 14 days, alarmed on its first message.
#[test]
fn a_failed_sweep_run_goes_to_an_alarmed_queue() {
    let template = template();
    let id = logical_id(sweep_function());
    let on_failure = &resource(&template, &id)["Properties"]["EventInvokeConfig"]["DestinationConfig"]
        ["OnFailure"];
    assert_eq!(
        on_failure["Type"].as_str(),
        Some("SQS"),
        "{id}: OnFailure.Type"
    );
    let queue = get_att(&on_failure["Destination"])
        .and_then(|a| a.strip_suffix(".Arn").map(str::to_owned))
        .unwrap_or_else(|| panic!("{id}: OnFailure.Destination is a !GetAtt <queue>.Arn"));
    let q = resource(&template, &queue);
    assert_eq!(q["Type"].as_str(), Some("AWS::SQS::Queue"), "{queue}: Type");
    let others = [
        payment_queue(&template),
        dead_letter_queue(&template),
        sweep_dead_letter_queue(&template),
    ];
    assert!(
        !others.contains(&queue.as_str()),
        "{queue} is a queue of its own"
    );
    let p = &q["Properties"];
    assert_eq!(
        p["SqsManagedSseEnabled"].as_bool(),
        Some(true),
        "{queue}: SSE-SQS"
    );
    assert!(p["KmsMasterKeyId"].is_null(), "{queue}: no KMS key");
    assert_eq!(
        number(&p["MessageRetentionPeriod"]),
        Some(1_209_600),
        "{queue}: 14 days"
    );
    assert_first_message_alarm(&template, &queue);
}

/// The custom metrics the alarms watch, each with the function that emits
/// it (its `Function` dimension).
fn custom_metrics() -> [(&'static str, &'static str); 2] {
    [
        ("OldestUnpublishedEventAgeSeconds", sweep_function()),
        ("RefusedProviderEvents", payment_queue_consumer()),
    ]
}

/// The age of the oldest unpublished event, which each sweep run reports
/// (one value per run, every 5 minutes), is alarmed when it stays over 15
/// minutes for two runs. No value means no run, which the sweep's own
/// alarms report: not this one.
#[test]
fn an_event_left_unpublished_for_15_minutes_is_alarmed() {
    let template = template();
    let [(metric, function), _] = custom_metrics();
    let sweep = |v: &Value| v.as_str() == Some(function);
    let (alarm, p) = the_alarm_on(
        &template,
        http_api::metrics::NAMESPACE,
        metric,
        ("Function", &sweep),
    );
    assert_eq!(
        p["Statistic"].as_str(),
        Some("Maximum"),
        "{alarm}: Statistic"
    );
    assert!(
        fires_from(p, 901) || fires_from(p, 900),
        "{alarm}: over 15 minutes (900 s)"
    );
    assert_eq!(
        number(&p["Period"]),
        Some(300),
        "{alarm}: one sweep run per period"
    );
    assert_eq!(
        number(&p["EvaluationPeriods"]),
        Some(2),
        "{alarm}: two runs in a row"
    );
    assert!(
        p["DatapointsToAlarm"].is_null() || number(&p["DatapointsToAlarm"]) == Some(2),
        "{alarm}: both runs"
    );
    assert_eq!(
        p["TreatMissingData"].as_str(),
        Some("notBreaching"),
        "{alarm}: no run is the sweep's alarms' business"
    );
}

/// A provider event the consumer refuses for good (one count each) is
/// alarmed on the first one in 5 minutes.
#[test]
fn a_refused_provider_event_is_alarmed() {
    let template = template();
    let [_, (metric, function)] = custom_metrics();
    let consumer = |v: &Value| v.as_str() == Some(function);
    let (alarm, p) = the_alarm_on(
        &template,
        http_api::metrics::NAMESPACE,
        metric,
        ("Function", &consumer),
    );
    assert_eq!(p["Statistic"].as_str(), Some("Sum"), "{alarm}: Statistic");
    assert!(
        fires_from(p, 1),
        "{alarm}: fires on the first refused event"
    );
    assert_eq!(number(&p["Period"]), Some(300), "{alarm}: Period");
    assert_eq!(
        number(&p["EvaluationPeriods"]),
        Some(1),
        "{alarm}: EvaluationPeriods"
    );
    assert_eq!(
        p["TreatMissingData"].as_str(),
        Some("notBreaching"),
        "{alarm}"
    );
}

/// Every `.rs` file under `dir`, build output aside.
fn all_rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") {
                all_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The custom metrics the alarms watch are named in the code that emits
/// them (an alarm on a metric nobody emits never fires), as are the
/// functions that emit them.
#[test]
fn the_alarmed_custom_metrics_are_emitted_by_the_code() {
    let mut files = Vec::new();
    for dir in ["shared", "functions"] {
        all_rust_files(&repo_root().join(dir), &mut files);
    }
    let sources: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(repo_root().join("shared/test-kit")))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    for (metric, function) in custom_metrics() {
        let quoted = format!("\"{metric}\"");
        assert!(
            sources.iter().any(|s| s.contains(&quoted)),
            "no code under shared/ or functions/ emits {metric} (expected from {function})"
        );
        assert!(
            all_functions().contains(&function),
            "{function}, the {metric} dimension, is a function"
        );
    }
}

// ---- the API edge ----------------------------------------------------------------

/// The API logs every request as one JSON object to a log group kept
/// `LogRetentionDays`, with what an operator looks for first: the request
/// id the functions log too, why the authorizer or the integration failed,
/// the route, the status, the latencies, the caller.
#[test]
fn the_api_writes_json_access_logs_kept_for_the_retention_parameter() {
    let template = template();
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let settings = &resource(&template, api)["Properties"]["AccessLogSettings"];
    let destination = get_att(&settings["DestinationArn"])
        .and_then(|a| a.strip_suffix(".Arn").map(str::to_owned))
        .unwrap_or_else(|| {
            panic!("{api}: AccessLogSettings.DestinationArn is a !GetAtt <group>.Arn")
        });
    assert_kept_for_the_retention_parameter(&template, &destination);
    let format = settings["Format"]
        .as_str()
        .unwrap_or_else(|| panic!("{api}: AccessLogSettings.Format is a string"));
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(format)
        .unwrap_or_else(|e| panic!("{api}: the access log format is not a JSON object ({e})"));
    let values: BTreeSet<&str> = fields
        .values()
        .filter_map(serde_json::Value::as_str)
        .collect();
    for variable in [
        "$context.requestId",
        "$context.authorizer.error",
        "$context.routeKey",
        "$context.status",
        "$context.responseLatency",
        "$context.integrationLatency",
        "$context.integrationErrorMessage",
        "$context.identity.sourceIp",
        "$context.identity.userAgent",
    ] {
        assert!(
            values.contains(variable),
            "{api}: the access log has {variable}"
        );
    }
}

/// The default of a Number parameter a value refers to.
fn parameter_default(template: &Value, owner: &str, v: &Value) -> i64 {
    let name = ref_target(v).unwrap_or_else(|| panic!("{owner}: {v:?} is a !Ref of a parameter"));
    let p = &template["Parameters"][name];
    assert_eq!(p["Type"].as_str(), Some("Number"), "parameter {name}");
    number(&p["Default"]).unwrap_or_else(|| panic!("parameter {name}: a Default"))
}

/// Every route is throttled (the stage's default route settings, from
/// parameters), and each public route (the providers' webhook, reachable
/// without a token) below that, by default.
#[test]
fn the_api_throttles_every_route_and_the_public_webhook_route_more_strictly() {
    let template = template();
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let p = &resource(&template, api)["Properties"];
    let limits = |where_: &str, s: &Value| -> (i64, i64) {
        (
            parameter_default(&template, where_, &s["ThrottlingRateLimit"]),
            parameter_default(&template, where_, &s["ThrottlingBurstLimit"]),
        )
    };
    let (rate, burst) = limits(api, &p["DefaultRouteSettings"]);
    assert!(
        rate >= 1 && burst >= rate,
        "{api}: DefaultRouteSettings {rate}/s, burst {burst}"
    );
    let public: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.public)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(!public.is_empty(), "ROUTES has a public route");
    let settings = p["RouteSettings"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{api}: RouteSettings"));
    let keys: BTreeSet<&str> = settings.keys().filter_map(Value::as_str).collect();
    let expected: BTreeSet<&str> = public.iter().map(String::as_str).collect();
    assert_eq!(
        keys, expected,
        "{api}: RouteSettings are the public routes'"
    );
    for key in &public {
        let (r, b) = limits(key, &settings[key.as_str()]);
        assert!(
            r < rate && b < burst,
            "{api}: {key} ({r}/s, burst {b}) is throttled below the default ({rate}/s, burst {burst})"
        );
    }
}

/// The webhook function has a reserved concurrency, a parameter (10 by
/// default), whose description warns that Lambda keeps 100 unreserved.
#[test]
fn the_webhook_function_has_a_reserved_concurrency_from_a_parameter() {
    let template = template();
    let id = logical_id(webhook::FUNCTION);
    let reserved = &resource(&template, &id)["Properties"]["ReservedConcurrentExecutions"];
    let default = parameter_default(&template, &id, reserved);
    assert!(
        (1..=100).contains(&default),
        "{id}: reserved concurrency {default} by default"
    );
    let name = ref_target(reserved).unwrap_or_default();
    let description = template["Parameters"][name]["Description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("100"),
        "parameter {name}: says that the account must keep 100 unreserved"
    );
    for id in of_type(&template, "AWS::Serverless::Function") {
        if id != logical_id(webhook::FUNCTION) {
            assert!(
                resource(&template, id)["Properties"]["ReservedConcurrentExecutions"].is_null(),
                "{id}: only the public webhook's function reserves concurrency"
            );
        }
    }
}

/// CORS is off unless `CorsAllowedOrigins` lists origins; with origins, the
/// API allows them the routes' methods, the request headers the API reads
/// and exposes the response headers it sets.
#[test]
fn cors_is_off_unless_origins_are_given() {
    const PARAMETER: &str = "CorsAllowedOrigins";
    let template = template();
    let p = &template["Parameters"][PARAMETER];
    assert_eq!(
        p["Type"].as_str(),
        Some("CommaDelimitedList"),
        "{PARAMETER}"
    );
    assert_eq!(
        p["Default"].as_str(),
        Some(""),
        "{PARAMETER}: none by default"
    );
    let api = the_one(&template, "AWS::Serverless::HttpApi");
    let cors = &resource(&template, api)["Properties"]["CorsConfiguration"];
    let [condition, on, off] = intrinsic_args(cors, "If")
        .unwrap_or_else(|| panic!("{api}: CorsConfiguration is !If [<origins>, {{...}}, NoValue]"))
    else {
        panic!("{api}: !If takes three arguments");
    };
    assert_eq!(
        ref_target(off),
        Some("AWS::NoValue"),
        "{api}: no origins, no CORS"
    );
    // The condition: the origins joined are not empty.
    let condition = condition.as_str().expect("a condition's name");
    let not = intrinsic_args(&template["Conditions"][condition], "Not")
        .and_then(|n| n.first())
        .and_then(|e| intrinsic_args(e, "Equals"))
        .unwrap_or_else(|| panic!("condition {condition} is !Not [!Equals [...]]"));
    let joined = not
        .iter()
        .find_map(|v| intrinsic_args(v, "Join"))
        .unwrap_or_else(|| panic!("condition {condition}: the origins joined"));
    assert_eq!(
        ref_target(&joined[1]),
        Some(PARAMETER),
        "condition {condition}"
    );
    assert!(
        not.contains(&Value::String(String::new())),
        "condition {condition}"
    );
    assert_eq!(
        ref_target(&on["AllowOrigins"]),
        Some(PARAMETER),
        "{api}: AllowOrigins"
    );
    let list = |field: &str| -> BTreeSet<String> {
        one_or_many(&on[field])
            .into_iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let methods: BTreeSet<String> = ROUTES.iter().map(|r| r.method.to_owned()).collect();
    assert_eq!(
        list("AllowMethods"),
        methods,
        "{api}: AllowMethods are the routes'"
    );
    let headers = ["Authorization", "Content-Type", "Idempotency-Key"].map(str::to_owned);
    assert_eq!(
        list("AllowHeaders"),
        BTreeSet::from(headers),
        "{api}: AllowHeaders"
    );
    let exposed = ["Location", "Retry-After"].map(str::to_owned);
    assert_eq!(
        list("ExposeHeaders"),
        BTreeSet::from(exposed),
        "{api}: ExposeHeaders"
    );
    assert_ne!(
        on["AllowCredentials"].as_bool(),
        Some(true),
        "{api}: tokens, not cookies"
    );
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
