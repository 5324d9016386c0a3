// The Twill task view: renders the task a tool result carries, and refreshes it through the host.
// Everything from Twill is data: written with textContent, never parsed as HTML, links only opened by the host.
import { App, applyDocumentTheme, applyHostStyleVariables, type McpUiHostContext } from "@modelcontextprotocol/ext-apps";

type Json = Record<string, unknown>;
type ToolResult = { structuredContent?: unknown; isError?: boolean; content?: unknown };
type State = "running" | "waiting" | "completed" | "failed" | "cancelled" | "unknown";

const GET_TASK = "get_task";
const WAIT_FOR_TASK = "wait_for_task";
// wait_for_task's own default (and the server's bound) decides how long one call waits; the view only gives
// the host's request a deadline beyond the longest wait_for_task allows (600 s).
const CALL_TIMEOUT_MS = 660_000;

const STATE_WORDS: Record<State, string> = {
  running: "Running",
  waiting: "Waiting for input",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  unknown: "Unknown",
};

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const app = new App({ name: "twill-task-view", version: "1.0.0" }, {}, { autoResize: true });
let taskRef: string | null = null;
let current: { task: Json; latestJob: Json | null } | null = null;
let canCall = false;
let busy = false;

function obj(value: unknown): Json | null {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function stateOf(job: Json | null): State {
  const status = (str(job?.status) ?? "").toUpperCase();
  if (!job) return "unknown";
  if (status === "COMPLETED" && str(job.planOutcome) === "READY") return "waiting"; // a plan awaiting a reply
  if (["PENDING", "QUEUED", "STARTING", "RUNNING", "IN_PROGRESS"].includes(status)) return "running";
  if (status.includes("WAITING") || status.includes("INPUT") || status.includes("AWAITING")) return "waiting";
  if (status === "COMPLETED" || status === "SUCCEEDED") return "completed";
  if (status === "FAILED" || status === "ERROR") return "failed";
  if (status === "CANCELLED" || status === "CANCELED") return "cancelled";
  return "unknown";
}

function when(value: unknown): string | null {
  const text = str(value);
  if (!text) return null;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  const locale = app.getHostContext()?.locale;
  const timeZone = app.getHostContext()?.timeZone;
  try {
    return date.toLocaleString(locale || undefined, { dateStyle: "medium", timeStyle: "medium", timeZone });
  } catch {
    return date.toLocaleString();
  }
}

function safeUrl(value: unknown): string | null {
  const text = str(value);
  if (!text) return null;
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function section(id: string, text: string | null): void {
  $(`${id}-section`).hidden = text === null;
  $(id === "error" ? "job-error" : id).textContent = text ?? "";
}

function fact(list: HTMLElement, term: string, value: string | null): void {
  if (value === null) return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function render(task: Json, latestJob: Json | null): void {
  current = { task, latestJob };
  taskRef = str(task.slug) ?? str(task.id) ?? taskRef;
  $("title").textContent = str(task.title) ?? str(task.slug) ?? "Untitled task";
  $("slug").textContent = str(task.slug) ?? str(task.id) ?? "";
  $("agent").textContent = str(latestJob?.agentProvider) ? `· ${latestJob?.agentProvider}` : "";
  const state = stateOf(latestJob);
  const status = $("state");
  status.dataset.state = state;
  const jobStatus = str(latestJob?.status);
  $("state-text").textContent = latestJob
    ? `${STATE_WORDS[state]}${jobStatus ? ` (latest job ${jobStatus})` : ""}`
    : "No job yet";

  const facts = $("facts");
  facts.replaceChildren();
  fact(facts, "Task status", str(task.status));
  fact(facts, "Latest job", jobStatus);
  fact(facts, "Started", when(latestJob?.startedAt));
  fact(facts, "Completed", when(latestJob?.completedAt));
  fact(facts, "Updated", when(task.updatedAt));

  section("plan", str(latestJob?.plan));
  section("answer", str(latestJob?.finalAnswer));
  section("error", str(latestJob?.error));

  const prs = Array.isArray(task.prs) ? task.prs.map(obj).filter((pr): pr is Json => pr !== null) : [];
  const list = $("prs");
  list.replaceChildren();
  for (const pr of prs) {
    const item = document.createElement("li");
    const label = `${str(pr.repoFullName) ?? ""}#${String(pr.prNumber ?? "")} ${str(pr.title) ?? ""}`.trim();
    const url = safeUrl(pr.prUrl);
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = label;
      link.title = url;
      link.addEventListener("click", (event) => {
        event.preventDefault(); // the host opens it: a sandboxed frame must not navigate
        void openLink(url);
      });
      item.append(link);
    } else {
      item.append(label);
    }
    if (str(pr.state)) {
      const badge = document.createElement("span");
      badge.className = "pr-state";
      badge.textContent = ` (${pr.state})`;
      item.append(badge);
    }
    list.append(item);
  }
  $("prs-section").hidden = prs.length === 0;
  updateControls();
}

/** The task in a tool result: get_task's {task, latestJob}, wait_for_task's {done, status, task: {...}}
 * or create_task's {task: {id, slug, url}, job}. */
function taskIn(result: ToolResult): { task: Json; latestJob: Json | null } | null {
  const body = obj(result.structuredContent);
  if (!body) return null;
  const nested = obj(body.task);
  if (nested && obj(nested.task)) return { task: obj(nested.task)!, latestJob: obj(nested.latestJob) };
  if (nested) return { task: nested, latestJob: obj(body.latestJob) ?? obj(body.job) };
  return null;
}

function errorIn(result: ToolResult): string | null {
  const error = obj(obj(result.structuredContent)?.error);
  if (error) return str(error.message) ?? "The call failed.";
  if (!result.isError) return null;
  const first = Array.isArray(result.content) ? obj(result.content[0]) : null;
  return str(first?.text) ?? "The call failed.";
}

function show(result: ToolResult): void {
  const problem = errorIn(result);
  $("problem").hidden = problem === null;
  $("problem").textContent = problem ?? "";
  const found = taskIn(result);
  if (found) render(found.task, found.latestJob);
}

function note(text: string): void {
  $("note").textContent = text;
}

function updateControls(): void {
  const refresh = $<HTMLButtonElement>("refresh");
  const wait = $<HTMLButtonElement>("wait");
  const running = stateOf(current?.latestJob ?? null) === "running";
  wait.hidden = !running;
  if (!canCall) {
    refresh.disabled = wait.disabled = true;
    const reason = "This host does not let the view call tools: ask the assistant to run get_task instead.";
    refresh.title = wait.title = reason;
    if (!busy) note(reason);
    return;
  }
  refresh.disabled = wait.disabled = busy || taskRef === null;
  refresh.title = wait.title = taskRef === null ? "No task to refresh yet." : "";
}

async function call(name: string, args: Json, progress: string): Promise<void> {
  if (!taskRef || busy) return;
  busy = true;
  updateControls();
  note(progress);
  try {
    const result = (await app.callServerTool(
      { name, arguments: { taskIdOrSlug: taskRef, ...args } },
      {
        timeout: CALL_TIMEOUT_MS,
        onprogress: (update: { message?: string; progress: number }) => note(update.message ?? progress),
      },
    )) as ToolResult;
    show(result);
    const body = obj(result.structuredContent);
    if (errorIn(result) !== null) note("");
    else if (name === WAIT_FOR_TASK && body?.done === false) note("Still running: Wait for it again to keep following.");
    else note(`Updated ${new Date().toLocaleTimeString(app.getHostContext()?.locale || undefined)}.`);
  } catch (error) {
    $("problem").hidden = false;
    $("problem").textContent = `Could not reach the server: ${error instanceof Error ? error.message : String(error)}`;
    note("");
  } finally {
    busy = false;
    updateControls();
  }
}

async function openLink(url: string): Promise<void> {
  try {
    const { isError } = await app.openLink({ url });
    if (isError) note(`The host would not open ${url}.`);
  } catch {
    note(`The host would not open ${url}.`);
  }
}

function applyContext(context: McpUiHostContext | undefined): void {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (current) render(current.task, current.latestJob); // the locale may have changed
}

// Before connect: the host may send these right after the handshake.
app.ontoolinput = (params) => {
  const ref = str(obj(params.arguments)?.taskIdOrSlug);
  if (ref) taskRef = ref;
  updateControls();
};
app.ontoolresult = (params) => show(params as ToolResult);
app.ontoolcancelled = () => note("The tool call was cancelled.");
app.onhostcontextchanged = (params) => applyContext({ ...app.getHostContext(), ...params });
app.onteardown = async () => ({});

$("refresh").addEventListener("click", () => void call(GET_TASK, {}, "Refreshing…"));
$("wait").addEventListener(
  "click",
  () => void call(WAIT_FOR_TASK, {}, "Waiting for the run to end…"),
);

void (async () => {
  try {
    await app.connect();
    canCall = app.getHostCapabilities()?.serverTools !== undefined;
    applyContext(app.getHostContext());
    updateControls();
  } catch (error) {
    $("problem").hidden = false;
    $("problem").textContent = `Not connected to a host: ${error instanceof Error ? error.message : String(error)}`;
  }
})();
