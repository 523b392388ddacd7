// `sqlx::migrate!` embeds migrations/ at compile time; without this, a new migration file is not
// compiled in until some Rust source changes (sqlx's documented build script).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
