mod history;
fn main() {}
