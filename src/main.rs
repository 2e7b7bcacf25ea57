//! The `dpu-fw` command.
fn main() {
    println!("dpu-fw");
}
