//! template.yaml read as CloudFormation reads it, and decided for given parameters as CloudFormation
//! would decide it: the helpers of tests/template.rs and tests/template_dashboard.rs. A test that
//! uses them starts with `needs!(CfnLint)`.

use serde_json::Value;
use std::collections::HashMap;

/// template.yaml as CloudFormation reads it (cfn-lint's decoder, from the project's virtualenv: its
/// short forms such as `!Sub` become `Fn::Sub`), as JSON.
pub fn template() -> Value {
    template_at("template.yaml")
}

/// A CloudFormation template of the repository, as [`template`] reads template.yaml.
pub fn template_at(path: &str) -> Value {
    let python = ".venv/bin/python";
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys; from cfnlint.decode import decode; t, m = decode(sys.argv[1]); \
             assert not m, m; print(json.dumps(t))",
            path,
        ])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (scripts/test.sh installs cfn-lint with moto into .venv)"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Every statement of a function's inline policies.
pub fn statements(template: &Value, function: &str) -> Vec<Value> {
    let policies = &template["Resources"][function]["Properties"]["Policies"];
    policies.as_array().unwrap().iter().flat_map(|p| p["Statement"].as_array().unwrap().clone()).collect()
}

/// Every IAM statement the template writes, with the logical id of the resource that holds it: SAM
/// functions' inline policies, roles' inline policies (not their trust policies) and resource policies.
pub fn all_statements(template: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let properties = &resource["Properties"];
        let documents: Vec<&Value> = match resource["Type"].as_str().unwrap() {
            "AWS::Serverless::Function" => properties["Policies"].as_array().into_iter().flatten().collect(),
            "AWS::IAM::Role" => {
                properties["Policies"].as_array().into_iter().flatten().map(|p| &p["PolicyDocument"]).collect()
            }
            "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy"
            | "AWS::SQS::QueuePolicy"
            | "AWS::SNS::TopicPolicy"
            | "AWS::S3::BucketPolicy" => {
                vec![&properties["PolicyDocument"]]
            }
            _ => vec![],
        };
        for document in documents {
            let statements = document["Statement"].as_array().unwrap_or_else(|| {
                panic!("{id}: inline statements only, so that this test sees every grant: {document}")
            });
            all.extend(statements.iter().map(|s| (id.clone(), s.clone())));
        }
    }
    all
}

/// A function's environment as SAM merges it: the Globals' variables, then the function's own.
pub fn environment(template: &Value, function: &str) -> serde_json::Map<String, Value> {
    let mut variables = template["Globals"]["Function"]["Environment"]["Variables"].as_object().unwrap().clone();
    let own = &template["Resources"][function]["Properties"]["Environment"]["Variables"];
    variables.extend(own.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    variables
}

/// template.yaml as CloudFormation would create it with these parameter values (the others at their
/// defaults): its Resources and Outputs without those whose condition is false, each Fn::If decided,
/// AWS::NoValue dropped and Refs to parameters replaced by the parameters' values. Every other
/// function stays as written.
pub fn deployed(template: &Value, given: &[(&str, &str)]) -> Value {
    let decider = Decider { template, parameters: parameter_values(template, given) };
    let mut sections = serde_json::Map::new();
    for section in ["Resources", "Outputs"] {
        let kept = template[section]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, item)| item.get("Condition").is_none_or(|c| decider.condition(c.as_str().unwrap())))
            .filter_map(|(id, item)| decider.resolve(item).map(|item| (id.clone(), item)))
            .collect();
        sections.insert(section.to_owned(), Value::Object(kept));
    }
    Value::Object(sections)
}

/// Every parameter's value: the one given, or its default.
pub fn parameter_values(template: &Value, given: &[(&str, &str)]) -> HashMap<String, String> {
    let parameters: HashMap<String, String> = template["Parameters"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, parameter)| {
            let value = match given.iter().find(|(n, _)| n == name) {
                Some((_, value)) => value.to_string(),
                None => text(&parameter["Default"]),
            };
            (name.clone(), value)
        })
        .collect();
    for (name, _) in given {
        assert!(parameters.contains_key(*name), "no parameter {name}");
    }
    parameters
}

/// A scalar as CloudFormation compares it: as text (a Number parameter's -1 equals the literal -1).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => panic!("a parameter without a default must be given"),
        other => other.to_string(),
    }
}

/// Conditions, Fn::If and Refs to parameters decided as CloudFormation decides them, for one set of
/// parameter values (only the condition functions the template uses: Equals, Not, And, Or, Condition).
pub struct Decider<'a> {
    template: &'a Value,
    parameters: HashMap<String, String>,
}

impl Decider<'_> {
    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    pub fn holds(&self, condition: &Value) -> bool {
        let (function, arguments) = condition.as_object().unwrap().iter().next().unwrap();
        let each = || arguments.as_array().unwrap().iter();
        match function.as_str() {
            "Fn::Equals" => {
                let sides: Vec<String> = each().map(|a| text(&self.resolve(a).unwrap())).collect();
                sides[0] == sides[1]
            }
            "Fn::Not" => !self.holds(&arguments[0]),
            "Fn::And" => each().all(|c| self.holds(c)),
            "Fn::Or" => each().any(|c| self.holds(c)),
            "Condition" => self.condition(arguments.as_str().unwrap()),
            other => panic!("condition function {other}"),
        }
    }

    /// None for AWS::NoValue: the property, or the list item, is left out.
    pub fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(|i| self.resolve(i)).collect())),
            Value::Object(object) if object.len() == 1 && object.contains_key("Fn::If") => {
                let [condition, then, otherwise] = object["Fn::If"].as_array().unwrap().as_slice() else {
                    panic!("{value}")
                };
                self.resolve(if self.condition(condition.as_str().unwrap()) { then } else { otherwise })
            }
            Value::Object(object) if object.len() == 1 && object.contains_key("Ref") => {
                match object["Ref"].as_str().unwrap() {
                    "AWS::NoValue" => None,
                    name => Some(self.parameters.get(name).map_or_else(|| value.clone(), |p| Value::String(p.clone()))),
                }
            }
            Value::Object(object) => Some(Value::Object(
                object.iter().filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v))).collect(),
            )),
            other => Some(other.clone()),
        }
    }
}

/// The descriptions of the template's Rules assertions that these parameter values fail: what
/// CloudFormation refuses before it creates anything.
pub fn refused(template: &Value, given: &[(&str, &str)]) -> Vec<String> {
    let decider = Decider { template, parameters: parameter_values(template, given) };
    let mut failed = Vec::new();
    for rule in template["Rules"].as_object().unwrap().values() {
        if rule.get("RuleCondition").is_some_and(|c| !decider.holds(c)) {
            continue;
        }
        for assertion in rule["Assertions"].as_array().unwrap() {
            if !decider.holds(&assertion["Assert"]) {
                failed.push(assertion["AssertDescription"].as_str().unwrap().to_owned());
            }
        }
    }
    failed
}

/// The logical ids of the resources of a type, in a deployed template.
pub fn of_type<'a>(deployed: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    deployed["Resources"].as_object().unwrap().iter().filter(|(_, r)| r["Type"] == kind).collect()
}

pub fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        other => panic!("{other}"),
    }
}
