/** The plugin's version as Kong reports it (hybrid mode requires one); equals package.json's. */
export const PLUGIN_VERSION = "0.1.0";
