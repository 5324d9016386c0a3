#!/usr/bin/env node
// Interop harness: drive a stdio MCP server with the official TypeScript SDK client.
//
// Usage: node ts_client.mjs '<json-plan>'
//   plan = {"command": "...", "args": [...], "env": {...}, "cwd": "...",
//           "calls": [{"name": "tool", "arguments": {...}, "progress"?: true}, ...],
//           "requests"?: [{"method": "readResource" | "listResourceTemplates" | "complete" | ..., "params": {...}}]}
//
// Prints exactly ONE JSON line on stdout:
//   {"tools": <ListToolsResult>, "results": [{"ok": true, "result": <CallToolResult>, "progress"?: [...]}
//                                           | {"ok": false, "error": "<message>"} ...],
//    "requests": [{"ok": true, "result": <result>} | {"ok": false, "error": "<message>", "code"?: n} ...]}
// and exits 0; on a fatal failure (bad plan, connect/listTools failure) prints
//   {"fatal": "<message>"} and exits 1.
//
// The SDK Client's default behaviour is kept: after listTools() it caches an
// AJV validator for every tool outputSchema, and callTool() validates
// structuredContent against it (throwing McpError on mismatch).  The server's
// stderr is inherited (goes to our stderr), never to our stdout.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function errMessage(err) {
    if (err instanceof Error) return err.message;
    try {
        return typeof err === 'string' ? err : JSON.stringify(err);
    } catch {
        return String(err);
    }
}

async function main() {
    let plan;
    try {
        if (process.argv.length !== 3) {
            throw new Error('usage: node ts_client.mjs <json-plan>');
        }
        plan = JSON.parse(process.argv[2]);
        if (!plan || typeof plan.command !== 'string') {
            throw new Error('plan.command (string) is required');
        }
    } catch (err) {
        emit({ fatal: `bad plan: ${errMessage(err)}` });
        return 1;
    }

    const transport = new StdioClientTransport({
        command: plan.command,
        args: plan.args ?? [],
        // NB: the child does NOT inherit process.env; it gets only the SDK's
        // getDefaultEnvironment() whitelist (HOME, LOGNAME, PATH, SHELL, TERM, USER)
        // with plan.env merged on top (PYTHONPATH etc. must go in plan.env).
        env: { ...getDefaultEnvironment(), ...(plan.env ?? {}) },
        ...(plan.cwd ? { cwd: plan.cwd } : {}),
        stderr: 'inherit'
    });
    const client = new Client({ name: 'twill-interop-ts-client', version: '0.0.0' });

    const timeout = plan.timeoutMs ?? 30000;
    let tools;
    try {
        await client.connect(transport, { timeout });
        // listTools() also caches outputSchema validators used by callTool().
        tools = await client.listTools(undefined, { timeout });
    } catch (err) {
        emit({ fatal: `connect/listTools failed: ${errMessage(err)}` });
        await client.close().catch(() => {});
        return 1;
    }

    const results = [];
    for (const call of plan.calls ?? []) {
        const progress = [];
        const options = call.progress ? { timeout, onprogress: p => progress.push(p) } : { timeout };
        try {
            const result = await client.callTool(
                { name: call.name, arguments: call.arguments ?? {} },
                undefined,
                options
            );
            results.push(call.progress ? { ok: true, result, progress } : { ok: true, result });
        } catch (err) {
            results.push({ ok: false, error: errMessage(err) });
        }
    }

    // Any other client method by name (readResource, listResourceTemplates, complete, listPrompts, getPrompt).
    const requests = [];
    for (const request of plan.requests ?? []) {
        try {
            const result = await client[request.method](request.params, { timeout });
            requests.push({ ok: true, result });
        } catch (err) {
            requests.push({ ok: false, error: errMessage(err), code: err?.code });
        }
    }

    await client.close().catch(() => {});
    emit({ tools, results, requests });
    return 0;
}

main().then(
    code => {
        process.exitCode = code;
    },
    err => {
        emit({ fatal: `unexpected: ${errMessage(err)}` });
        process.exitCode = 1;
    }
);
