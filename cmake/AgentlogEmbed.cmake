# agentlog_embed(<target> <function> BASE <dir> FILES <file>...)
# Generates a C++ source defining `const std::vector<agentlog::EmbeddedFile>& <function>()` holding every
# file's bytes under its path relative to BASE, and adds it to <target>. Regenerated when a file changes.
set(_AGENTLOG_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake)
function(agentlog_embed target function)
  cmake_parse_arguments(ARG "" "BASE" "FILES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${function}.cpp)
  string(REPLACE ";" "|" files_arg "${ARG_FILES}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DFUNCTION=${function} -DBASE=${ARG_BASE} "-DFILES=${files_arg}"
            -P ${_AGENTLOG_EMBED_SCRIPT}
    DEPENDS ${ARG_FILES} ${_AGENTLOG_EMBED_SCRIPT}
    COMMENT "Embedding ${function}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
