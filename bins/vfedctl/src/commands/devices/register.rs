//! `vfedctl devices register`.

use clap::Args;
use vfed_proto::registry::v1::{DeviceSpec, RegisterDeviceRequest};

use super::fields::DeviceFields;
use crate::exit::usage;
use crate::output::{self, Format};
use crate::render;
use crate::session::Session;
use crate::values;
use crate::view::{DeviceSpecView, DeviceView};

/// Long help of `devices register`.
pub const LONG_ABOUT: &str = "\
Register a device of this node's area. Fields come from flags, from a JSON \
DeviceSpec given with --file, or both (flags override the file).

vfedctl only checks syntax (dates, numbers, enum names). The node checks the \
rules (area code, prohibited places R7, signage R8, responsible units R9, \
acceptance R11, filing R12) and its refusal is printed verbatim.";

/// Examples of `devices register`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl --demo /tmp/vfed devices register --id 54050200001320000001 \\
      --name 'Naidong Rd / Zetang Rd' --location-type junction \\
      --category public-area-road --unit 'Naidong traffic police' \\
      --responsible 'Naidong public security bureau' --signage \\
      --acceptance accepted --accepted-on 2024-05-01 --shared \\
      --main-url rtsp://10.1.2.3/main --lat 29.23 --lon 91.77
  vfedctl devices register --file device.json --name 'Override name'
  vfedctl devices register --file device.json --dry-run -o json

device.json:
  {\"id\": \"54050200001320000001\", \"name\": \"Gate\", \"location_type\": \"square\",
   \"protected_category\": \"crowded-place\", \"unit\": \"Square management\",
   \"responsible\": {\"builder\": \"B\", \"maintainer\": \"M\", \"manager\": \"G\"},
   \"signage\": {\"posted\": true, \"distance_to_homes_m\": 120},
   \"acceptance\": {\"state\": \"accepted\", \"accepted_on\": \"2024-05-01\"},
   \"filing\": {\"filed_on\": \"2024-05-20\", \"operators\": [\"Li\"]},
   \"shared\": true, \"streams\": {\"main_url\": \"rtsp://10.1.2.3/main\"}}";

/// Arguments of `devices register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// GB/T 28181 20-digit device code (or "id" in --file).
    #[arg(long, required_unless_present = "file", value_name = "ID", value_parser = values::device_id)]
    pub id: Option<String>,

    /// Print the DeviceSpec that would be sent and stop (no connection).
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub fields: DeviceFields,
}

/// Builds the spec locally, then registers it.
pub async fn run(args: RegisterArgs, session: &Session) -> anyhow::Result<()> {
    let mut patch = args.fields.patch()?;
    if let Some(id) = args.id {
        patch.id = Some(id);
    }
    let mut spec = DeviceSpec::default();
    patch.apply(&mut spec);
    if spec.id.trim().is_empty() {
        return Err(usage(
            "a device ID is required: pass --id or set \"id\" in the --file",
        ));
    }
    // An "id" from --file gets the check --id gets.
    values::device_id(&spec.id).map_err(|e| usage(format!("\"id\" in --file: {e}")))?;
    if args.dry_run {
        return output::emit(Format::Json, &DeviceSpecView::from(&spec), String::new);
    }
    let mut client = session.registry().await?;
    let device = session
        .call(client.register_device(RegisterDeviceRequest { spec: Some(spec) }))
        .await?;
    output::emit(session.format(), &DeviceView::from(&device), || {
        format!(
            "registered {} (revision {})\n\n{}",
            device.spec.as_ref().map_or("", |s| s.id.as_str()),
            device.revision,
            render::device_detail(&device)
        )
    })
}
