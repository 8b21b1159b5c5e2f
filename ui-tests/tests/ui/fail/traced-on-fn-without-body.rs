use t4dm_trace_runtime::traced;

trait Repository {
    #[traced]
    fn load(&self) -> u32;
}

fn main() {}
