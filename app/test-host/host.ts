// A test host for tests/test_task_app_browser.py: embeds the task view as a host does, with ext-apps' AppBridge,
// and proxies the view's tool calls to a real twill-mcp over MCP (streamable HTTP at /mcp on this page's origin).
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport, getToolUiResourceUri } from "@modelcontextprotocol/ext-apps/app-bridge";

type Logged = { method: string; params: unknown };
type Options = { tool: string; arguments: Record<string, unknown>; theme: "light" | "dark"; serverTools: boolean };

const log: Logged[] = [];
let bridge: AppBridge | null = null;
let initialized = false;

function cspOf(csp: { connectDomains?: string[]; resourceDomains?: string[] } | undefined): string {
  // What a host derives from the resource's _meta.ui.csp: only the listed origins, and the document's own inline code.
  const connect = (csp?.connectDomains ?? []).join(" ") || "'none'";
  const resources = (csp?.resourceDomains ?? []).join(" ");
  return [
    "default-src 'none'",
    `script-src 'unsafe-inline' ${resources}`.trim(),
    `style-src 'unsafe-inline' ${resources}`.trim(),
    `img-src data: ${resources}`.trim(),
    `font-src ${resources || "'none'"}`,
    `connect-src ${connect}`,
    "frame-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

async function start(options: Options): Promise<void> {
  const client = new Client({ name: "twill-test-host", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  const { tools } = await client.listTools();
  const tool = tools.find((t) => t.name === options.tool);
  if (!tool) throw new Error(`no tool ${options.tool}`);
  const uri = getToolUiResourceUri(tool);
  if (!uri) throw new Error(`${options.tool} names no ui:// resource`);
  const { contents } = await client.readResource({ uri });
  const [content] = contents as Array<{ mimeType?: string; text?: string; _meta?: { ui?: { csp?: object } } }>;
  (window as unknown as { resourceMimeType: string }).resourceMimeType = content.mimeType ?? "";
  const csp = cspOf(content._meta?.ui?.csp as Parameters<typeof cspOf>[0]);
  const html = (content.text ?? "").replace("<head>", `<head><meta http-equiv="Content-Security-Policy" content="${csp}">`);

  const frame = document.createElement("iframe");
  frame.title = "Twill task view";
  frame.setAttribute("sandbox", "allow-scripts");
  document.getElementById("view")!.append(frame);

  const capabilities = options.serverTools ? { openLinks: {}, serverTools: {}, logging: {} } : { openLinks: {}, logging: {} };
  bridge = new AppBridge(null, { name: "twill-test-host", version: "1.0.0" }, capabilities, {
    hostContext: { theme: options.theme, locale: "en-GB", timeZone: "UTC", platform: "web", displayMode: "inline" },
  });
  bridge.oncalltool = async (params) => {
    log.push({ method: "tools/call", params });
    return (await client.callTool(params)) as never;
  };
  bridge.onopenlink = async (params) => {
    log.push({ method: "ui/open-link", params });
    return {};
  };
  bridge.onsizechange = (params) => {
    log.push({ method: "ui/notifications/size-changed", params });
    if (params.height) frame.style.height = `${params.height}px`;
  };
  bridge.onloggingmessage = (params) => log.push({ method: "notifications/message", params });
  bridge.oninitialized = () => {
    initialized = true;
    void (async () => {
      await bridge!.sendToolInput({ arguments: options.arguments });
      const result = await client.callTool({ name: options.tool, arguments: options.arguments });
      await bridge!.sendToolResult(result as never);
    })();
  };
  // Listening before the document loads: the view's ui/initialize is its first message.
  await bridge.connect(new PostMessageTransport(frame.contentWindow!, frame.contentWindow!));
  frame.srcdoc = html;
}

async function setTheme(theme: "light" | "dark"): Promise<void> {
  await bridge!.sendHostContextChange({ theme });
}

async function setVariables(variables: Record<string, string>): Promise<void> {
  await bridge!.sendHostContextChange({ styles: { variables } } as never);
}

Object.assign(window, { host: { start, setTheme, setVariables, log, isInitialized: () => initialized } });
