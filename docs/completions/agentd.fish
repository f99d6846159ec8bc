# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_agentd_global_optspecs
    string join \n c/config= socket= h/help V/version
end

function __fish_agentd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_agentd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_agentd_using_subcommand
    set -l cmd (__fish_agentd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c agentd -n "__fish_agentd_needs_command" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_needs_command" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_needs_command" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_needs_command" -s V -l version -d 'Print version'
complete -c agentd -n "__fish_agentd_needs_command" -f -a "check" -d 'Validate a config file and the plugins it names, then exit (like `nginx -t`)'
complete -c agentd -n "__fish_agentd_needs_command" -f -a "sim" -d 'Run only the offline model (the `sim` provider\'s Realtime server) on ADDR, until SIGTERM or SIGINT: a local Realtime endpoint for tests and benchmarks, out of the daemon\'s process'
complete -c agentd -n "__fish_agentd_needs_command" -f -a "plugin" -d 'Write, build and inspect plugins'
complete -c agentd -n "__fish_agentd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentd -n "__fish_agentd_using_subcommand check" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand check" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand check" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand sim" -l listen -d 'Address to listen on, e.g. 127.0.0.1:8900 (port 0 picks a free one)' -r
complete -c agentd -n "__fish_agentd_using_subcommand sim" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand sim" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand sim" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -f -a "inspect" -d 'Show a component\'s contract version, tools (with their JSON Schemas), guardrails and what it imports (the grants it would need)'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -f -a "new" -d 'Write a ready-to-build plugin project in ./NAME with one example tool (or guardrail) and a test that runs natively'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -f -a "build" -d 'Build the plugin project in DIR to DIR/NAME.wasm, installing the target or toolchain it needs first'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and not __fish_seen_subcommand_from inspect new build help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from inspect" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from inspect" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from inspect" -l json -d 'Print JSON instead of text'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from new" -l lang -d 'The plugin\'s language' -r -f -a "rust\t''
python\t''
js\t''"
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from new" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from new" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from new" -l guardrail -d 'An example guardrail instead of an example tool'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from build" -s c -l config -d 'Config file [default: ./agents.toml, else /etc/agentd/agents.toml]' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from build" -l socket -d 'Control socket to listen on, instead of `[daemon] socket` (ignored when systemd passes the socket: `agentd.socket`)' -r -F
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from build" -s h -l help -d 'Print help'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show a component\'s contract version, tools (with their JSON Schemas), guardrails and what it imports (the grants it would need)'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "new" -d 'Write a ready-to-build plugin project in ./NAME with one example tool (or guardrail) and a test that runs natively'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "build" -d 'Build the plugin project in DIR to DIR/NAME.wasm, installing the target or toolchain it needs first'
complete -c agentd -n "__fish_agentd_using_subcommand plugin; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentd -n "__fish_agentd_using_subcommand help; and not __fish_seen_subcommand_from check sim plugin help" -f -a "check" -d 'Validate a config file and the plugins it names, then exit (like `nginx -t`)'
complete -c agentd -n "__fish_agentd_using_subcommand help; and not __fish_seen_subcommand_from check sim plugin help" -f -a "sim" -d 'Run only the offline model (the `sim` provider\'s Realtime server) on ADDR, until SIGTERM or SIGINT: a local Realtime endpoint for tests and benchmarks, out of the daemon\'s process'
complete -c agentd -n "__fish_agentd_using_subcommand help; and not __fish_seen_subcommand_from check sim plugin help" -f -a "plugin" -d 'Write, build and inspect plugins'
complete -c agentd -n "__fish_agentd_using_subcommand help; and not __fish_seen_subcommand_from check sim plugin help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c agentd -n "__fish_agentd_using_subcommand help; and __fish_seen_subcommand_from plugin" -f -a "inspect" -d 'Show a component\'s contract version, tools (with their JSON Schemas), guardrails and what it imports (the grants it would need)'
complete -c agentd -n "__fish_agentd_using_subcommand help; and __fish_seen_subcommand_from plugin" -f -a "new" -d 'Write a ready-to-build plugin project in ./NAME with one example tool (or guardrail) and a test that runs natively'
complete -c agentd -n "__fish_agentd_using_subcommand help; and __fish_seen_subcommand_from plugin" -f -a "build" -d 'Build the plugin project in DIR to DIR/NAME.wasm, installing the target or toolchain it needs first'
