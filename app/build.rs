//! Windows builds: put the app icon and the version information (shown in Explorer's
//! Properties and in the installer's list) into both executables.

fn main() {
    println!("cargo:rerun-if-changed=../assets/icons/deltadrop.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let mut resource = winresource::WindowsResource::new();
    resource
        .set_icon("../assets/icons/deltadrop.ico")
        .set("ProductName", "deltadrop")
        .set("FileDescription", "deltadrop: download only what changed")
        .set("CompanyName", "The deltadrop developers");
    if let Err(e) = resource.compile() {
        // A Windows build without its icon and version would ship looking broken.
        panic!("could not compile the Windows resources (is mingw's windres installed?): {e}");
    }
}
