import { publishView, runRole } from "@zlabs/kit";
import { CameraFeed } from "../internal/camera-feed.ts";
import { cameraConfig, cameraOptions, checkCamera, LAB } from "../internal/config.ts";

runRole(
  {
    lab: LAB,
    role: "camera-feed",
    describe: "4K camera: NV12 frames of a moving scene on a PUB socket",
    options: cameraOptions,
    check: checkCamera,
  },
  (config, log, signal) => new CameraFeed(cameraConfig(config), log, { publish: publishView }).run(signal),
);
