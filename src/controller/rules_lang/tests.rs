use super::*;

fn fails(src: &str) -> CompileError {
    compile(src).expect_err("should not compile")
}

#[test]
fn words_blocks_and_comments() {
    let c = compile("# nothing but a comment\naccept;").unwrap();
    assert_eq!(c.rules, vec![json!({"type": "ACTION_ACCEPT"})]);
    let c = compile("drop not ethertype arp#not a comment\n;").unwrap_err();
    assert_eq!((c.line, c.column), (1, 20), "{c}");
    let c = compile("drop\n  not ipprotocol tcp\n;\naccept;").unwrap();
    assert_eq!(c.rules.len(), 3);
    assert_eq!(c.rules[0]["ipProtocol"], 6);
    assert_eq!(c.rules[0]["not"], true);
}

#[test]
fn malformed_sources_name_the_line_and_column() {
    let e = fails("accept\n   dport 70000;\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 10, "Invalid numeric range.")
    );
    let e = fails("accept frobnicate 1;");
    assert_eq!((e.line, e.column), (1, 8));
    assert!(e.message.contains("frobnicate"), "{e}");
    let e = fails("drop dport;");
    assert_eq!(e.message, "Missing argument(s) to match.");
    let e = fails("tag t id 1;\ntag t id 2;");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "Multiple definition of tag name.")
    );
    assert!(
        fails("cap c accept;")
            .message
            .contains("missing a numeric ID")
    );
    assert!(
        fails("include nothing_here")
            .message
            .contains("Macro name not found")
    );
    assert!(fails("accept ipsrc 10.0.0.1;").message.contains("/bits"));
    assert!(
        fails("accept ipsrc banana/8;")
            .message
            .contains("not valid IPv4 or IPv6")
    );
    assert!(fails("tee 10 short;").message.contains("address target"));
    assert!(
        fails("accept tdiff nosuchtag 0;")
            .message
            .contains("Undefined tag name")
    );
    assert!(fails("priority 3;").message.contains("Unrecognized action"));
    assert!(
        fails(&"accept;".repeat(MAX_SOURCE_LEN / 7 + 1))
            .message
            .contains("over")
    );
}

#[test]
fn macros_bind_their_parameters() {
    let src = "macro pair($a,$b)\n accept dport $a or dport $b;\n;\ninclude pair(80,443)\n";
    let c = compile(src).unwrap();
    assert_eq!(c.rules[0]["start"], 80);
    assert_eq!(c.rules[1]["start"], 443);
    assert_eq!(c.rules[1]["or"], true);
    assert!(
        fails("macro one($x) accept dport $x; ;\ninclude one")
            .message
            .contains("parameter")
    );
    assert!(
        fails("accept dport $nope;")
            .message
            .contains("Undefined variable")
    );
}

#[test]
fn compiled_rules_are_what_the_api_stores() {
    let src = include_str!("../../../tests/vectors/rules/every-condition.ztrules");
    let c = compile(src).unwrap();
    let config = c.config();
    let rules = crate::controller::rules_json::from_json(&config["rules"]).unwrap();
    assert_eq!(rules.len(), c.rules.len());
    for cap in config["capabilities"].as_array().unwrap() {
        crate::controller::rules_json::from_json(&cap["rules"]).unwrap();
    }
}

#[test]
fn sources_cannot_expand_without_end() {
    let e = fails("macro m\n include m\n;\ninclude m\n");
    assert!(e.message.contains("Too many macro expansions"), "{e}");
    let mut doubling = String::from("macro a0 accept; ;\n");
    for i in 1..=40 {
        doubling += &format!("macro a{i} include a{} include a{} ;\n", i - 1, i - 1);
    }
    doubling += "include a40\n";
    let e = fails(&doubling);
    assert!(
        e.message.contains("more than") || e.message.contains("Too many"),
        "{e}"
    );
    let deep = "drop ".repeat(10_000) + "ethertype arp;";
    assert!(fails(&deep).message.contains("nested more than"));
}
