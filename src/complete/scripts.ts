import { DIRECTIVE } from './answer.js'

// The completion scripts are @bomb.sh/tab's (0.0.22), with what bktx needs changed in the text
// the library writes. Each change names the exact text it replaces and fails loudly when that
// text is not there (a new version of the library), rather than printing a script that
// silently lacks it; test/e2e/completion.test.ts runs the scripts in the real shells.

/** The script of one shell as bktx prints it, from the library's text of it. */
export function patchScript(shell: string, text: string): string {
  if (shell === 'bash') return patchBash(text)
  if (shell === 'zsh') return patchZsh(text)
  if (shell === 'fish') return patchFish(text)
  return text
}

function patchBash(text: string): string {
  // The library defines its directives as `readonly` globals, so sourcing the script a second
  // time (a re-read ~/.bashrc) printed six "readonly variable" errors, and any other script
  // using these names broke. They are the completion function's locals instead.
  const directives = [...text.matchAll(/^readonly (ShellCompDirective\w+=\d+)\n/gm)]
  if (directives.length !== 6) throw new Error(`bash completion script: expected 6 readonly directives, found ${directives.length}`)
  let out = replaceOnce(text.replace(/^readonly ShellCompDirective\w+=\d+\n/gm, ''), '# Define shell completion directives\n', '')
  out = replaceOnce(out, '__bktx_complete() {\n', `__bktx_complete() {\n    local ${directives.map((m) => m[1]).join(' ')}\n`)
  // The library turns file completion off for "no file completion" (`compopt +o default`),
  // which only means something when the function was registered with `-o default`: without it
  // bash never completed a file name, even for --key or --out.
  out = replaceOnce(out, '\ncomplete -F __bktx_complete bktx\n', '\ncomplete -o default -F __bktx_complete bktx\n')
  // The words typed were put into the command line unquoted and then eval'ed: pressing TAB
  // after `bktx token --org $(cmd)` ran cmd. Each word is quoted for eval instead (as the zsh
  // script does with its (q) flag); empty words are still left out, as before.
  out = replaceOnce(
    out,
    `    requestComp="bktx complete -- \${words[@]:1}"\n`,
    [
      '    requestComp="bktx complete --"',
      '    local word',
      `    for word in "\${words[@]:1}"; do`,
      '        [[ -n $word ]] && requestComp+=" $(printf \'%q\' "$word")"',
      '    done',
      '',
    ].join('\n'),
  )
  // Directory names as file names (a `/` after each, no space), as the file completion has them.
  out = replaceOnce(out, '        compopt -o dirnames\n', '        compopt -o filenames\n')
  return replaceOnce(
    out,
    '    # Apply directives\n',
    [
      "    # bktx: the words after the first `--` are a command line of its own (exec's command),",
      "    # completed as if typed alone: bash-completion's _command_offset (command names, then",
      "    # that command's own completion, else file names).",
      `    if [[ $((directive & ${DIRECTIVE.COMMAND_LINE})) -ne 0 ]]; then`,
      '        local i',
      '        for ((i = 1; i < COMP_CWORD; i++)); do',
      `            [[ \${COMP_WORDS[i]} == -- ]] && break`,
      '        done',
      '        _command_offset $((i + 1))',
      '        return',
      '    fi',
      '',
      '    # Apply directives',
      '',
    ].join('\n'),
  )
}

function patchZsh(text: string): string {
  return replaceOnce(
    text,
    '    local activeHelpMarker="%"\n',
    [
      "    # bktx: the words after the first `--` are a command line of its own (exec's command),",
      '    # completed as if typed alone (_normal: command names, then its own completion).',
      `    if [ $((directive & ${DIRECTIVE.COMMAND_LINE})) -ne 0 ]; then`,
      `        local i=\${words[(i)--]}`,
      `        words=("\${(@)words[i+1,-1]}")`,
      '        (( CURRENT -= i ))',
      '        _normal',
      '        return',
      '    fi',
      '',
      '    local activeHelpMarker="%"',
      '',
    ].join('\n'),
  )
}

function patchFish(text: string): string {
  const at = '    set --global __bktx_comp_results $__bktx_perform_completion_once_result[1..-2]\n'
  return replaceOnce(
    text,
    at,
    [
      at.trimEnd(),
      '',
      "    # bktx: the words after the first `--` are a command line of its own (exec's command),",
      "    # completed as if typed alone: fish's own completions for it (complete -C), else file names.",
      `    if test (math --scale 0 "$directive / ${DIRECTIVE.COMMAND_LINE} % 2") -eq 1`,
      '        set -l tokens (commandline -opc)',
      '        set -l dashes (contains -i -- -- $tokens)',
      '        set -l line (string escape -- $tokens[(math $dashes + 1)..-1] (commandline -ct) | string join " ")',
      '        # The answer kept for this completion would be taken for the inner one (`exec -- bktx`).',
      '        set --erase __bktx_perform_completion_once_result',
      '        set --global __bktx_comp_results (complete -C "$line")',
      '        test -n "$__bktx_comp_results"',
      '        return',
      '    end',
      '',
    ].join('\n'),
  )
}

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from)
  if (at === -1 || text.indexOf(from, at + 1) !== -1) throw new Error(`completion script: expected ${JSON.stringify(from)} exactly once`)
  return text.slice(0, at) + to + text.slice(at + from.length)
}
