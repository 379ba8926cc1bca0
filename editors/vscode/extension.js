// The Riskforge extension: starts `riskc lsp` for .risk files. Everything
// it shows (diagnostics, formatting, hover, definitions, references,
// completion, outline, semantic highlighting) comes from the server.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("riskforge").get("riskcPath") || "riskc";
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient("riskforge", "Riskforge (riskc lsp)", server, {
    documentSelector: [{ scheme: "file", language: "risk" }, { scheme: "untitled", language: "risk" }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
