use t4dm_trace_runtime::traced;

#[traced("server.run", err)]
fn run() -> ! {
    loop {}
}

fn main() {
    run();
}
