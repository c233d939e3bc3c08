# Checks (or, with -DUPDATE=ON, rewrites) the generated key table of docs/CONFIGURATION.md: the
# part between the BEGIN/END GENERATED KEY TABLE markers must equal `sierradb --print-config-doc`.
# Usage: cmake -DSIERRADB=<path to sierradb> -DDOC=<path to CONFIGURATION.md> [-DUPDATE=ON] -P this
if(NOT SIERRADB OR NOT DOC)
  message(FATAL_ERROR "usage: cmake -DSIERRADB=... -DDOC=... [-DUPDATE=ON] -P config_doc_check.cmake")
endif()

execute_process(COMMAND ${SIERRADB} --print-config-doc
  OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR generated STREQUAL "")
  message(FATAL_ERROR "${SIERRADB} --print-config-doc failed (exit ${rc})")
endif()

file(READ ${DOC} doc)
set(begin_marker "<!-- BEGIN GENERATED KEY TABLE")
set(end_marker "<!-- END GENERATED KEY TABLE -->")
string(FIND "${doc}" "${begin_marker}" begin_at)
string(FIND "${doc}" "${end_marker}" end_at)
if(begin_at EQUAL -1 OR end_at EQUAL -1 OR end_at LESS begin_at)
  message(FATAL_ERROR "${DOC}: missing the ${begin_marker} ... ${end_marker} markers")
endif()
# The table starts on the line after the end of the BEGIN comment ("-->").
string(SUBSTRING "${doc}" ${begin_at} -1 from_begin)
string(FIND "${from_begin}" "-->\n" comment_end)
math(EXPR table_at "${begin_at} + ${comment_end} + 4")
math(EXPR table_len "${end_at} - ${table_at}")
string(SUBSTRING "${doc}" ${table_at} ${table_len} current)

if(current STREQUAL generated)
  message(STATUS "${DOC}: key table is up to date")
elseif(UPDATE)
  string(SUBSTRING "${doc}" 0 ${table_at} head)
  string(SUBSTRING "${doc}" ${end_at} -1 tail)
  file(WRITE ${DOC} "${head}${generated}${tail}")
  message(STATUS "${DOC}: key table updated")
else()
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/config_doc_table.expected.md "${generated}")
  message(FATAL_ERROR "${DOC}: the key table differs from what src/server/config_keys.cpp "
    "generates (expected text in ${CMAKE_CURRENT_BINARY_DIR}/config_doc_table.expected.md). "
    "Regenerate it: cmake --build build --target update_config_doc")
endif()
