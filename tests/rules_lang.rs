//! The rules language compiler against ZeroTier's own: every source in
//! `tests/vectors/rules/` compiles to exactly the JSON that ZeroTier's rule compiler
//! (rule-compiler.js, run by hand with node) printed for it, stored beside it.

use std::path::Path;

#[test]
fn every_source_compiles_to_what_zerotiers_compiler_produced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rules");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "ztrules") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let want: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        let got = ztcd::controller::rules_lang::compile(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_json();
        assert_eq!(got, want, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} sources");
}
