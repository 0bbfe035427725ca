/* Unit test of common/endpoint_list: parsing of comma-separated
 * coordinator endpoints, round robin, following a named leader, and what
 * is refused. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "endpoint_list.h"
#include "tally_error.h"

int main(void) {
  endpoint_list_t list;
  CHECK(endpoint_list_parse(&list, "tcp://127.0.0.1:7400") == 0);
  CHECK(list.count == 1 && strcmp(endpoint_list_current(&list), "tcp://127.0.0.1:7400") == 0);
  CHECK(strcmp(endpoint_list_next(&list), "tcp://127.0.0.1:7400") == 0); /* one: stays */

  CHECK(endpoint_list_parse(&list, "tcp://a:1, tcp://b:2 ,tcp://c:3") == 0);
  CHECK(list.count == 3);
  CHECK(strcmp(list.items[1], "tcp://b:2") == 0); /* spaces dropped */
  CHECK(strcmp(endpoint_list_current(&list), "tcp://a:1") == 0);
  CHECK(strcmp(endpoint_list_next(&list), "tcp://b:2") == 0);
  CHECK(strcmp(endpoint_list_next(&list), "tcp://c:3") == 0);
  CHECK(strcmp(endpoint_list_next(&list), "tcp://a:1") == 0); /* round robin */

  /* A leader named by NOT_LEADER: its index when listed... */
  CHECK(endpoint_list_use(&list, "tcp://c:3") == 0);
  CHECK(list.current == 2);
  /* ...else it stands in for the current entry. */
  CHECK(endpoint_list_use(&list, "tcp://d:4") == 0);
  CHECK(list.current == 2 && strcmp(endpoint_list_current(&list), "tcp://d:4") == 0);
  CHECK(list.count == 3);
  CHECK(endpoint_list_use(&list, "") == TALLY_E_INVALID_ARGUMENT);
  CHECK(endpoint_list_use(&list, NULL) == TALLY_E_INVALID_ARGUMENT);
  char huge[400];
  memset(huge, 'x', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  CHECK(endpoint_list_use(&list, huge) == TALLY_E_INVALID_ARGUMENT);
  CHECK(strcmp(endpoint_list_current(&list), "tcp://d:4") == 0); /* unchanged */

  const char *bad[] = {"", ",", "tcp://a:1,", ",tcp://a:1", "tcp://a:1,,tcp://b:2", " , ",
                       "a,b,c,d,e,f,g,h"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK(endpoint_list_parse(&list, bad[i]) == TALLY_E_INVALID_ARGUMENT);
    CHECK(list.count == 0);
  }
  CHECK(endpoint_list_parse(&list, NULL) == TALLY_E_INVALID_ARGUMENT);
  CHECK(endpoint_list_parse(&list, huge) == TALLY_E_INVALID_ARGUMENT);
  CHECK(endpoint_list_parse(&list, "a,b,c,d,e,f,g") == 0 && list.count == 7);
  return check_summary();
}
