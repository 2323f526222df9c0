#!/usr/bin/env node
// Committed shim: npm links a bin only if its file exists at install time; the code is compiled by `npm run build`.
import "../dist/cli/index.js";
