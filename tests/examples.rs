//! The shipped examples stay valid: every template validates and every example file parses with its
//! template, with exactly the rejected rows the example means to show.

use connector_core::decode::decoded;
use connector_core::mapping::Mapper;
use connector_core::parse::{parse_rows, ParseOptions};
use connector_core::template::Template;
use std::ops::ControlFlow;

fn template(name: &str) -> Template {
    let path = format!("examples/templates/{name}.json");
    Template::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (rows imported, rows rejected) of an example file.
fn parse(template_name: &str, file: &str) -> (u64, u64) {
    let mapper = Mapper::new(template(template_name));
    let mut input = decoded(std::fs::File::open(format!("examples/data/{file}")).unwrap()).unwrap();
    let mut imported = 0;
    let summary = parse_rows(&mut input, &mapper, file, ParseOptions::default(), &mut |_| {
        imported += 1;
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    (imported, summary.rows_rejected)
}

#[test]
fn every_example_file_parses_with_its_template() {
    let cases = [
        ("payments", "payments/2026-11-01.csv", (4, 1)),
        ("payments", "payments/2026-11-03.csv", (1, 1)),
        ("payments", "payments/2026-11-04.csv.gz", (2, 0)),
        ("customers", "customers/customers.jsonl", (3, 3)),
        ("orders-tsv", "orders.tsv", (2, 0)),
        ("refunds-json", "refunds.json", (2, 0)),
    ];
    for (template_name, file, expected) in cases {
        assert_eq!(parse(template_name, file), expected, "{file} with template {template_name}");
    }
}
