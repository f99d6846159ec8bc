# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_agentctl_global_optspecs
    string join \n socket= json h/help V/version
end

function __fish_agentctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_agentctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_agentctl_using_subcommand
    set -l cmd (__fish_agentctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c agentctl -n "__fish_agentctl_needs_command" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_needs_command" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_needs_command" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_needs_command" -s V -l version -d 'Print version'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "status" -d 'Show the daemon, its agents and its plugins'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "plugins" -d 'List plugins: path, hash, loaded since, exports, last error'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "reload" -d 'Re-read agents.toml and the plugins now (like SIGHUP); prints what changed'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "drain" -d 'Stop gracefully, as SIGTERM does: no new sessions or calls, live calls finish (up to `[daemon] drain_timeout`), then agentd exits'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "metrics" -d 'Print the Prometheus metrics (`GET /metrics`)'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "agents" -d 'List agents with their tools'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "sessions" -d 'List sessions'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "session" -d 'Start, show or close a session'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "send" -d 'Send a user text message to a session'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "interrupt" -d 'Interrupt the model\'s current response'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "events" -d 'Print a session\'s events'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "attach" -d 'Watch a session live and talk to it: lines typed are sent as user messages; `/approve CALL_ID`, `/reject CALL_ID` (add `always`), `/interrupt`, `/quit`'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "history" -d 'Print a session\'s conversation history (from the journal once the daemon no longer holds the session, e.g. after a restart)'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "tool" -d 'Run tools directly, without a model'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "audit" -d 'Tool calls from the journal, newest first: decision, approvals, outcome'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "approve" -d 'Approve a tool call waiting for approval'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "reject" -d 'Reject a tool call waiting for approval'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "approvals" -d 'List the calls waiting for approval, daemon-wide; or manage remembered answers'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "policy" -d 'Inspect approval policies'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "call" -d 'Phone and browser calls: list, hang up, transfer, or ring an agent offline'
complete -c agentctl -n "__fish_agentctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand status" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand status" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand plugins" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand plugins" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand plugins" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand reload" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand reload" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand reload" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand drain" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand drain" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand drain" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand metrics" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand metrics" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand agents" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand agents" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand agents" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand sessions" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand sessions" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand sessions" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -f -a "start" -d 'Start a session and print its id'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -f -a "show" -d 'Show one session'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -f -a "close" -d 'Close a session'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -f -a "agent" -d 'Switch a live session to another agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and not __fish_seen_subcommand_from start show close agent help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from start" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from start" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from show" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from show" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from close" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from close" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from close" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from agent" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from agent" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from agent" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a session and print its id'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one session'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "close" -d 'Close a session'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "agent" -d 'Switch a live session to another agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand send" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand send" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand send" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand interrupt" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand interrupt" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand interrupt" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -l since -d 'Start at this sequence number' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -s f -l follow -d 'Keep printing new events until the session ends'
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -l raw -d 'Include raw model events and audio chunks in text output'
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand events" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand attach" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand attach" -l raw -d 'Include raw model events and audio chunks'
complete -c agentctl -n "__fish_agentctl_using_subcommand attach" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand attach" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand history" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand history" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand history" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and not __fish_seen_subcommand_from call help" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and not __fish_seen_subcommand_from call help" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and not __fish_seen_subcommand_from call help" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and not __fish_seen_subcommand_from call help" -f -a "call" -d 'Call `plugin.tool` with JSON arguments in its sandbox and print the output'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and not __fish_seen_subcommand_from call help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and __fish_seen_subcommand_from call" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and __fish_seen_subcommand_from call" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and __fish_seen_subcommand_from call" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and __fish_seen_subcommand_from help" -f -a "call" -d 'Call `plugin.tool` with JSON arguments in its sandbox and print the output'
complete -c agentctl -n "__fish_agentctl_using_subcommand tool; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l session -d 'Only this session\'s calls' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l tool -d 'Only calls of tools this pattern matches (`pay.*`, `*.read`)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l since -d 'Only calls since TIME: RFC 3339 (`2026-12-01T09:00:00Z`), ms since the epoch, or an age (`90s`, `15m`, `2h`, `7d`)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l limit -d 'At most this many calls' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand audit" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l remember -d 'With --always: `agent` keeps the answer for the agent, in every session and across restarts, until forgotten or its approval policy changes' -r -f -a "session\t''
agent\t''"
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l reason -d 'Why, in your words; journaled with the decision' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l session -d 'The session holding the call (found automatically when omitted)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l always -d 'Also give this answer to later calls of the same tool in this session'
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand approve" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l remember -d 'With --always: `agent` keeps the answer for the agent, in every session and across restarts, until forgotten or its approval policy changes' -r -f -a "session\t''
agent\t''"
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l reason -d 'Why, in your words; journaled with the decision' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l session -d 'The session holding the call (found automatically when omitted)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l always -d 'Also give this answer to later calls of the same tool in this session'
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand reject" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -f -a "remembered" -d 'List the answers remembered per agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -f -a "forget" -d 'Drop the answers remembered for an agent (all its tools, or one)'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and not __fish_seen_subcommand_from remembered forget help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from remembered" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from remembered" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from remembered" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from forget" -l tool -d 'Only this tool\'s (`plugin.tool`)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from forget" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from forget" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "remembered" -d 'List the answers remembered per agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "forget" -d 'Drop the answers remembered for an agent (all its tools, or one)'
complete -c agentctl -n "__fish_agentctl_using_subcommand approvals; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -f -a "explain" -d 'Say what would happen to a call, and which rule decides, without running it'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and not __fish_seen_subcommand_from explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and __fish_seen_subcommand_from explain" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and __fish_seen_subcommand_from explain" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and __fish_seen_subcommand_from explain" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "explain" -d 'Say what would happen to a call, and which rule decides, without running it'
complete -c agentctl -n "__fish_agentctl_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -f -a "list" -d 'List calls: channel, caller, callee, agent, session and how each ended'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -f -a "simulate" -d 'Make the offline model ring this daemon\'s [sip] webhook, then play a caller whose words arrive as input transcripts (no phone, network or key)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -f -a "hangup" -d 'Hang a call up'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -f -a "transfer" -d 'Transfer a call to a target in [sip] transfer_targets (`tel:+1…`, `sip:…`)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and not __fish_seen_subcommand_from list simulate hangup transfer help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from list" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from list" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -l to -d 'The number called (matched against [sip] routes)' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -l from -d 'The caller\'s number' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -l say -d 'What the caller says, in order (repeatable); `dtmf 12#` presses keys' -r
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from simulate" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from hangup" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from hangup" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from hangup" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from transfer" -l socket -d 'Control socket of the daemon' -r -F
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from transfer" -l json -d 'Print JSON instead of text'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from transfer" -s h -l help -d 'Print help'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from help" -f -a "list" -d 'List calls: channel, caller, callee, agent, session and how each ended'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from help" -f -a "simulate" -d 'Make the offline model ring this daemon\'s [sip] webhook, then play a caller whose words arrive as input transcripts (no phone, network or key)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from help" -f -a "hangup" -d 'Hang a call up'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from help" -f -a "transfer" -d 'Transfer a call to a target in [sip] transfer_targets (`tel:+1…`, `sip:…`)'
complete -c agentctl -n "__fish_agentctl_using_subcommand call; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "status" -d 'Show the daemon, its agents and its plugins'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "plugins" -d 'List plugins: path, hash, loaded since, exports, last error'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "reload" -d 'Re-read agents.toml and the plugins now (like SIGHUP); prints what changed'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "drain" -d 'Stop gracefully, as SIGTERM does: no new sessions or calls, live calls finish (up to `[daemon] drain_timeout`), then agentd exits'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "metrics" -d 'Print the Prometheus metrics (`GET /metrics`)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "agents" -d 'List agents with their tools'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "sessions" -d 'List sessions'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "session" -d 'Start, show or close a session'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "send" -d 'Send a user text message to a session'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "interrupt" -d 'Interrupt the model\'s current response'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "events" -d 'Print a session\'s events'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "attach" -d 'Watch a session live and talk to it: lines typed are sent as user messages; `/approve CALL_ID`, `/reject CALL_ID` (add `always`), `/interrupt`, `/quit`'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "history" -d 'Print a session\'s conversation history (from the journal once the daemon no longer holds the session, e.g. after a restart)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "tool" -d 'Run tools directly, without a model'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "audit" -d 'Tool calls from the journal, newest first: decision, approvals, outcome'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "approve" -d 'Approve a tool call waiting for approval'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "reject" -d 'Reject a tool call waiting for approval'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "approvals" -d 'List the calls waiting for approval, daemon-wide; or manage remembered answers'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "policy" -d 'Inspect approval policies'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "call" -d 'Phone and browser calls: list, hang up, transfer, or ring an agent offline'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and not __fish_seen_subcommand_from status plugins reload drain metrics agents sessions session send interrupt events attach history tool audit approve reject approvals policy call help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "start" -d 'Start a session and print its id'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "show" -d 'Show one session'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "close" -d 'Close a session'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "agent" -d 'Switch a live session to another agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from tool" -f -a "call" -d 'Call `plugin.tool` with JSON arguments in its sandbox and print the output'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "remembered" -d 'List the answers remembered per agent'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from approvals" -f -a "forget" -d 'Drop the answers remembered for an agent (all its tools, or one)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "explain" -d 'Say what would happen to a call, and which rule decides, without running it'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from call" -f -a "list" -d 'List calls: channel, caller, callee, agent, session and how each ended'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from call" -f -a "simulate" -d 'Make the offline model ring this daemon\'s [sip] webhook, then play a caller whose words arrive as input transcripts (no phone, network or key)'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from call" -f -a "hangup" -d 'Hang a call up'
complete -c agentctl -n "__fish_agentctl_using_subcommand help; and __fish_seen_subcommand_from call" -f -a "transfer" -d 'Transfer a call to a target in [sip] transfer_targets (`tel:+1…`, `sip:…`)'
